//! The fifteen CiscoIPPhone objects of `CiscoIPPhone.xsd` 3.3.4.
//!
//! Generating follows the schema exactly: Title, Prompt, SoftKeyItem*, KeyItem*, then the
//! object's own elements; counts and URL lengths that the schema limits are errors, display
//! text longer than its field is shortened (a phone would cut it anyway). Reading accepts any
//! order and unknown elements, as real phones and Cisco's own examples need.

use crate::tree::Element;
use crate::Error;

/// Most menu items in a CiscoIPPhoneMenu.
pub const MAX_MENU_ITEMS: usize = 100;
/// Most entries in a CiscoIPPhoneDirectory; more are paged with a Next softkey.
pub const MAX_DIRECTORY_ENTRIES: usize = 32;
pub const MAX_SOFTKEYS: usize = 8;
pub const MAX_KEYS: usize = 32;
pub const MAX_INPUT_ITEMS: usize = 5;
pub const MAX_EXECUTE_ITEMS: usize = 3;
pub const MAX_ICON_MENU_ITEMS: usize = 32;
pub const MAX_ICONS: usize = 10;
pub const MAX_GRAPHIC_MENU_ITEMS: usize = 12;
pub const MAX_URL: usize = 256;
pub const MAX_TEXT: usize = 4000;

/// Title, prompt, softkeys and keys: what every displayable object starts with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Screen {
    pub title: Option<String>,
    pub prompt: Option<String>,
    pub softkeys: Vec<SoftKey>,
    pub keys: Vec<KeyItem>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoftKey {
    pub name: String,
    /// 1..=8 in the schema.
    pub position: u16,
    pub url: String,
    pub url_down: Option<String>,
}

impl SoftKey {
    pub fn new(name: &str, position: u16, url: &str) -> SoftKey {
        SoftKey {
            name: name.into(),
            position,
            url: url.into(),
            url_down: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyItem {
    /// KeyPad0..9, KeyPadStar, KeyPadPound, NavUp/Down/Left/Right/Select/Back, PushToTalk.
    pub key: String,
    pub url: Option<String>,
    pub url_down: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MenuItem {
    pub name: String,
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IconMenuItem {
    pub name: String,
    pub url: String,
    pub icon_index: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Icon {
    pub index: u16,
    pub width: u16,
    pub height: u16,
    pub depth: u16,
    /// Packed hex.
    pub data: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IconFile {
    pub index: u16,
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputItem {
    pub display_name: String,
    pub query_string_param: String,
    /// A, T, N, E, U or L, with P for a password field (AP, PA, ...).
    pub input_flags: String,
    pub default_value: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryEntry {
    pub name: String,
    pub telephone: String,
}

/// A bitmap drawn by the phone: location, size, depth and packed hex pixels.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bitmap {
    pub x: Option<i32>,
    pub y: Option<i32>,
    pub width: u16,
    pub height: u16,
    pub depth: u16,
    pub data: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TouchItem {
    pub name: String,
    pub url: String,
    pub area: Option<(u16, u16, u16, u16)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecuteItem {
    /// 0: now; 1: when idle; 2: only if idle.
    pub priority: Option<u8>,
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseItem {
    pub status: i16,
    pub data: String,
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Object {
    Menu {
        screen: Screen,
        items: Vec<MenuItem>,
    },
    Text {
        screen: Screen,
        text: String,
    },
    Input {
        screen: Screen,
        url: String,
        items: Vec<InputItem>,
    },
    Directory {
        screen: Screen,
        entries: Vec<DirectoryEntry>,
    },
    Image {
        screen: Screen,
        image: Bitmap,
    },
    ImageFile {
        screen: Screen,
        x: Option<i32>,
        y: Option<i32>,
        url: String,
    },
    GraphicMenu {
        screen: Screen,
        image: Bitmap,
        items: Vec<MenuItem>,
    },
    GraphicFileMenu {
        screen: Screen,
        x: Option<i32>,
        y: Option<i32>,
        url: String,
        items: Vec<TouchItem>,
    },
    IconMenu {
        screen: Screen,
        items: Vec<IconMenuItem>,
        icons: Vec<Icon>,
    },
    IconFileMenu {
        screen: Screen,
        items: Vec<IconMenuItem>,
        icons: Vec<IconFile>,
    },
    Status {
        text: Option<String>,
        timer: Option<u32>,
        image: Bitmap,
    },
    StatusFile {
        text: Option<String>,
        timer: Option<u32>,
        x: Option<i32>,
        y: Option<i32>,
        url: String,
    },
    Execute {
        items: Vec<ExecuteItem>,
    },
    Response {
        items: Vec<ResponseItem>,
    },
    Error {
        /// 1 parse error, 2 framing error, 3 internal file error, 4 authentication error.
        number: u16,
    },
}

/// Shorten display text to the field's length in characters, on a character boundary.
fn fit(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((cut, _)) => s[..cut].to_owned(),
        None => s.to_owned(),
    }
}

fn url(field: &'static str, u: &str) -> Result<String, Error> {
    if u.chars().count() > MAX_URL {
        return Err(Error::Limit {
            field,
            limit: MAX_URL,
            got: u.chars().count(),
        });
    }
    Ok(u.to_owned())
}

fn count<T>(field: &'static str, items: &[T], limit: usize) -> Result<(), Error> {
    if items.len() > limit {
        return Err(Error::Limit {
            field,
            limit,
            got: items.len(),
        });
    }
    Ok(())
}

fn range(field: &'static str, v: i64, lo: i64, hi: i64) -> Result<String, Error> {
    if v < lo || v > hi {
        return Err(Error::Range {
            field,
            lo,
            hi,
            got: v,
        });
    }
    Ok(v.to_string())
}

impl Screen {
    pub fn titled(title: &str) -> Screen {
        Screen {
            title: Some(title.into()),
            ..Default::default()
        }
    }

    /// A menu's screen: its title and prompt, the Select and Exit softkeys.
    pub fn menu(title: &str, prompt: Option<&str>) -> Screen {
        Screen {
            title: Some(title.into()),
            prompt: prompt.map(str::to_owned),
            softkeys: vec![
                SoftKey::new("Select", 1, "SoftKey:Select"),
                SoftKey::new("Exit", 3, "SoftKey:Exit"),
            ],
            keys: vec![],
        }
    }

    fn write(&self, mut e: Element) -> Result<Element, Error> {
        count("SoftKeyItem", &self.softkeys, MAX_SOFTKEYS)?;
        count("KeyItem", &self.keys, MAX_KEYS)?;
        e = e
            .leaf_opt("Title", self.title.as_deref().map(|t| fit(t, 32)))
            .leaf_opt("Prompt", self.prompt.as_deref().map(|t| fit(t, 32)));
        for k in &self.softkeys {
            let mut s = Element::new("SoftKeyItem")
                .leaf("Name", fit(&k.name, 32))
                .leaf(
                    "Position",
                    range("SoftKeyItem Position", k.position.into(), 1, 8)?,
                )
                .leaf("URL", url("SoftKeyItem URL", &k.url)?);
            if let Some(d) = &k.url_down {
                s = s.leaf("URLDown", url("SoftKeyItem URLDown", d)?);
            }
            e = e.child(s);
        }
        for k in &self.keys {
            let mut s = Element::new("KeyItem").leaf("Key", k.key.clone());
            if let Some(u) = &k.url {
                s = s.leaf("URL", url("KeyItem URL", u)?);
            }
            if let Some(d) = &k.url_down {
                s = s.leaf("URLDown", url("KeyItem URLDown", d)?);
            }
            e = e.child(s);
        }
        Ok(e)
    }

    fn read(e: &Element) -> Screen {
        Screen {
            title: e.text_of("Title").map(str::to_owned),
            prompt: e.text_of("Prompt").map(str::to_owned),
            softkeys: e
                .all("SoftKeyItem")
                .map(|s| SoftKey {
                    name: s.text_of("Name").unwrap_or_default().to_owned(),
                    position: s
                        .text_of("Position")
                        .and_then(|p| p.parse().ok())
                        .unwrap_or(0),
                    url: s.text_of("URL").unwrap_or_default().to_owned(),
                    url_down: s.text_of("URLDown").map(str::to_owned),
                })
                .collect(),
            keys: e
                .all("KeyItem")
                .map(|k| KeyItem {
                    key: k.text_of("Key").unwrap_or_default().to_owned(),
                    url: k.text_of("URL").map(str::to_owned),
                    url_down: k.text_of("URLDown").map(str::to_owned),
                })
                .collect(),
        }
    }
}

impl Bitmap {
    fn write(
        &self,
        mut e: Element,
        max_x: i64,
        max_y: i64,
        max_w: i64,
        max_h: i64,
        max_data: usize,
    ) -> Result<Element, Error> {
        if let Some(x) = self.x {
            e = e.leaf("LocationX", range("LocationX", x.into(), -1, max_x)?);
        }
        if let Some(y) = self.y {
            e = e.leaf("LocationY", range("LocationY", y.into(), -1, max_y)?);
        }
        if self.data.len() > max_data {
            return Err(Error::Limit {
                field: "Data",
                limit: max_data,
                got: self.data.len(),
            });
        }
        Ok(
            e.leaf("Width", range("Width", self.width.into(), 1, max_w)?)
                .leaf("Height", range("Height", self.height.into(), 1, max_h)?)
                .leaf("Depth", range("Depth", self.depth.into(), 1, 2)?)
                .leaf("Data", self.data.clone()),
        )
    }

    fn read(e: &Element) -> Bitmap {
        Bitmap {
            x: num(e, "LocationX"),
            y: num(e, "LocationY"),
            width: num(e, "Width").unwrap_or(0),
            height: num(e, "Height").unwrap_or(0),
            depth: num(e, "Depth").unwrap_or(0),
            data: e.text_of("Data").unwrap_or_default().to_owned(),
        }
    }
}

fn num<T: std::str::FromStr>(e: &Element, name: &str) -> Option<T> {
    e.text_of(name).and_then(|t| t.trim().parse().ok())
}

fn text(e: &Element, name: &str) -> String {
    e.text_of(name).unwrap_or_default().to_owned()
}

fn location(
    mut e: Element,
    x: Option<i32>,
    y: Option<i32>,
    max_x: i64,
    max_y: i64,
) -> Result<Element, Error> {
    if let Some(x) = x {
        e = e.leaf("LocationX", range("LocationX", x.into(), -1, max_x)?);
    }
    if let Some(y) = y {
        e = e.leaf("LocationY", range("LocationY", y.into(), -1, max_y)?);
    }
    Ok(e)
}

fn menu_items(mut e: Element, items: &[MenuItem]) -> Result<Element, Error> {
    for i in items {
        e = e.child(
            Element::new("MenuItem")
                .leaf("Name", fit(&i.name, 64))
                .leaf("URL", url("MenuItem URL", &i.url)?),
        );
    }
    Ok(e)
}

fn read_menu_items(e: &Element) -> Vec<MenuItem> {
    e.all("MenuItem")
        .map(|m| MenuItem {
            name: text(m, "Name"),
            url: text(m, "URL"),
        })
        .collect()
}

fn icon_menu_items(mut e: Element, items: &[IconMenuItem]) -> Result<Element, Error> {
    count("MenuItem", items, MAX_ICON_MENU_ITEMS)?;
    for i in items {
        let mut m = Element::new("MenuItem")
            .leaf("Name", fit(&i.name, 64))
            .leaf("URL", url("MenuItem URL", &i.url)?);
        if let Some(ix) = i.icon_index {
            m = m.leaf("IconIndex", range("IconIndex", ix.into(), 0, 9)?);
        }
        e = e.child(m);
    }
    Ok(e)
}

fn read_icon_menu_items(e: &Element) -> Vec<IconMenuItem> {
    e.all("MenuItem")
        .map(|m| IconMenuItem {
            name: text(m, "Name"),
            url: text(m, "URL"),
            icon_index: num(m, "IconIndex"),
        })
        .collect()
}

impl Object {
    /// The root element's name.
    pub fn root_name(&self) -> &'static str {
        match self {
            Object::Menu { .. } => "CiscoIPPhoneMenu",
            Object::Text { .. } => "CiscoIPPhoneText",
            Object::Input { .. } => "CiscoIPPhoneInput",
            Object::Directory { .. } => "CiscoIPPhoneDirectory",
            Object::Image { .. } => "CiscoIPPhoneImage",
            Object::ImageFile { .. } => "CiscoIPPhoneImageFile",
            Object::GraphicMenu { .. } => "CiscoIPPhoneGraphicMenu",
            Object::GraphicFileMenu { .. } => "CiscoIPPhoneGraphicFileMenu",
            Object::IconMenu { .. } => "CiscoIPPhoneIconMenu",
            Object::IconFileMenu { .. } => "CiscoIPPhoneIconFileMenu",
            Object::Status { .. } => "CiscoIPPhoneStatus",
            Object::StatusFile { .. } => "CiscoIPPhoneStatusFile",
            Object::Execute { .. } => "CiscoIPPhoneExecute",
            Object::Response { .. } => "CiscoIPPhoneResponse",
            Object::Error { .. } => "CiscoIPPhoneError",
        }
    }

    /// The object as a document in the schema's order, or the limit it breaks.
    pub fn to_xml(&self) -> Result<String, Error> {
        Ok(self.to_element()?.to_document())
    }

    pub fn to_element(&self) -> Result<Element, Error> {
        let root = Element::new(self.root_name());
        Ok(match self {
            Object::Menu { screen, items } => {
                count("MenuItem", items, MAX_MENU_ITEMS)?;
                menu_items(screen.write(root)?, items)?
            }
            Object::Text { screen, text } => screen.write(root)?.leaf("Text", fit(text, MAX_TEXT)),
            Object::Input {
                screen,
                url: u,
                items,
            } => {
                count("InputItem", items, MAX_INPUT_ITEMS)?;
                let mut e = screen.write(root)?.leaf("URL", url("URL", u)?);
                for i in items {
                    if !valid_input_flags(&i.input_flags) {
                        return Err(Error::Value {
                            field: "InputFlags",
                            got: i.input_flags.clone(),
                        });
                    }
                    if i.query_string_param.is_empty() {
                        return Err(Error::Value {
                            field: "QueryStringParam",
                            got: String::new(),
                        });
                    }
                    e = e.child(
                        Element::new("InputItem")
                            .leaf("DisplayName", fit(&i.display_name, 32))
                            .leaf("QueryStringParam", fit(&i.query_string_param, 32))
                            .leaf("InputFlags", i.input_flags.clone())
                            .leaf_opt(
                                "DefaultValue",
                                i.default_value.as_deref().map(|d| fit(d, 32)),
                            ),
                    );
                }
                e
            }
            Object::Directory { screen, entries } => {
                count("DirectoryEntry", entries, MAX_DIRECTORY_ENTRIES)?;
                let mut e = screen.write(root)?;
                for d in entries {
                    e = e.child(
                        Element::new("DirectoryEntry")
                            .leaf("Name", fit(&d.name, 32))
                            .leaf("Telephone", fit(&d.telephone, 32)),
                    );
                }
                e
            }
            Object::Image { screen, image } => {
                image.write(screen.write(root)?, 132, 64, 133, 65, 2162)?
            }
            Object::ImageFile {
                screen,
                x,
                y,
                url: u,
            } => location(screen.write(root)?, *x, *y, 297, 167)?.leaf("URL", url("URL", u)?),
            Object::GraphicMenu {
                screen,
                image,
                items,
            } => {
                count("MenuItem", items, MAX_GRAPHIC_MENU_ITEMS)?;
                let e = image.write(screen.write(root)?, 132, 64, 133, 65, 2162)?;
                menu_items(e, items)?
            }
            Object::GraphicFileMenu {
                screen,
                x,
                y,
                url: u,
                items,
            } => {
                count("MenuItem", items, MAX_ICON_MENU_ITEMS)?;
                let mut e =
                    location(screen.write(root)?, *x, *y, 297, 167)?.leaf("URL", url("URL", u)?);
                for i in items {
                    let mut m = Element::new("MenuItem")
                        .leaf("Name", fit(&i.name, 32))
                        .leaf("URL", url("MenuItem URL", &i.url)?);
                    if let Some((x1, y1, x2, y2)) = i.area {
                        m = m.child(
                            Element::new("TouchArea")
                                .attr("X1", x1.to_string())
                                .attr("Y1", y1.to_string())
                                .attr("X2", x2.to_string())
                                .attr("Y2", y2.to_string()),
                        );
                    }
                    e = e.child(m);
                }
                e
            }
            Object::IconMenu {
                screen,
                items,
                icons,
            } => {
                count("IconItem", icons, MAX_ICONS)?;
                let mut e = icon_menu_items(screen.write(root)?, items)?;
                for i in icons {
                    if i.data.len() > 40 {
                        return Err(Error::Limit {
                            field: "IconItem Data",
                            limit: 40,
                            got: i.data.len(),
                        });
                    }
                    e = e.child(
                        Element::new("IconItem")
                            .leaf("Index", i.index.to_string())
                            .leaf("Width", range("IconItem Width", i.width.into(), 1, 16)?)
                            .leaf("Height", range("IconItem Height", i.height.into(), 1, 10)?)
                            .leaf("Depth", range("IconItem Depth", i.depth.into(), 1, 2)?)
                            .leaf("Data", i.data.clone()),
                    );
                }
                e
            }
            Object::IconFileMenu {
                screen,
                items,
                icons,
            } => {
                count("IconItem", icons, MAX_ICONS)?;
                let mut e = icon_menu_items(screen.write(root)?, items)?;
                for i in icons {
                    e = e.child(
                        Element::new("IconItem")
                            .leaf("Index", range("IconItem Index", i.index.into(), 0, 9)?)
                            .leaf("URL", url("IconItem URL", &i.url)?),
                    );
                }
                e
            }
            Object::Status { text, timer, image } => {
                let e = root
                    .leaf_opt("Text", text.as_deref().map(|t| fit(t, 32)))
                    .leaf_opt("Timer", timer.map(|t| t.to_string()));
                image.write(e, 105, 20, 106, 21, 557)?
            }
            Object::StatusFile {
                text,
                timer,
                x,
                y,
                url: u,
            } => {
                let e = root
                    .leaf_opt("Text", text.as_deref().map(|t| fit(t, 32)))
                    .leaf_opt("Timer", timer.map(|t| t.to_string()));
                location(e, *x, *y, 261, 49)?.leaf("URL", url("URL", u)?)
            }
            Object::Execute { items } => {
                if items.is_empty() {
                    return Err(Error::Value {
                        field: "ExecuteItem",
                        got: "none".into(),
                    });
                }
                count("ExecuteItem", items, MAX_EXECUTE_ITEMS)?;
                let mut e = root;
                for i in items {
                    if i.url.is_empty() {
                        return Err(Error::Value {
                            field: "ExecuteItem URL",
                            got: String::new(),
                        });
                    }
                    let mut x = Element::new("ExecuteItem");
                    if let Some(p) = i.priority {
                        x = x.attr("Priority", range("ExecuteItem Priority", p.into(), 0, 2)?);
                    }
                    e = e.child(x.attr("URL", url("ExecuteItem URL", &i.url)?));
                }
                e
            }
            Object::Response { items } => {
                count("ResponseItem", items, MAX_EXECUTE_ITEMS)?;
                let mut e = root;
                for i in items {
                    e = e.child(
                        Element::new("ResponseItem")
                            .attr("Status", i.status.to_string())
                            .attr("Data", fit(&i.data, 32))
                            .attr("URL", url("ResponseItem URL", &i.url)?),
                    );
                }
                e
            }
            Object::Error { number } => root.attr("Number", number.to_string()),
        })
    }

    /// Read any CiscoIPPhone object, in any element order.
    pub fn parse(input: &str) -> Result<Object, Error> {
        Object::from_element(&Element::parse(input)?)
    }

    pub fn from_element(e: &Element) -> Result<Object, Error> {
        let screen = || Screen::read(e);
        Ok(match e.name.as_str() {
            "CiscoIPPhoneMenu" => Object::Menu {
                screen: screen(),
                items: read_menu_items(e),
            },
            "CiscoIPPhoneText" => Object::Text {
                screen: screen(),
                text: text(e, "Text"),
            },
            "CiscoIPPhoneInput" => Object::Input {
                screen: screen(),
                url: text(e, "URL"),
                items: e
                    .all("InputItem")
                    .map(|i| InputItem {
                        display_name: text(i, "DisplayName"),
                        query_string_param: text(i, "QueryStringParam"),
                        input_flags: text(i, "InputFlags"),
                        default_value: i.text_of("DefaultValue").map(str::to_owned),
                    })
                    .collect(),
            },
            "CiscoIPPhoneDirectory" => Object::Directory {
                screen: screen(),
                entries: e
                    .all("DirectoryEntry")
                    .map(|d| DirectoryEntry {
                        name: text(d, "Name"),
                        telephone: text(d, "Telephone"),
                    })
                    .collect(),
            },
            "CiscoIPPhoneImage" => Object::Image {
                screen: screen(),
                image: Bitmap::read(e),
            },
            "CiscoIPPhoneImageFile" => Object::ImageFile {
                screen: screen(),
                x: num(e, "LocationX"),
                y: num(e, "LocationY"),
                url: text(e, "URL"),
            },
            "CiscoIPPhoneGraphicMenu" => Object::GraphicMenu {
                screen: screen(),
                image: Bitmap::read(e),
                items: read_menu_items(e),
            },
            "CiscoIPPhoneGraphicFileMenu" => Object::GraphicFileMenu {
                screen: screen(),
                x: num(e, "LocationX"),
                y: num(e, "LocationY"),
                url: text(e, "URL"),
                items: e
                    .all("MenuItem")
                    .map(|m| TouchItem {
                        name: text(m, "Name"),
                        url: text(m, "URL"),
                        area: m.first("TouchArea").and_then(|t| {
                            let n = |k| t.attribute(k).and_then(|v| v.parse().ok());
                            Some((n("X1")?, n("Y1")?, n("X2")?, n("Y2")?))
                        }),
                    })
                    .collect(),
            },
            "CiscoIPPhoneIconMenu" => Object::IconMenu {
                screen: screen(),
                items: read_icon_menu_items(e),
                icons: e
                    .all("IconItem")
                    .map(|i| Icon {
                        index: num(i, "Index").unwrap_or(0),
                        width: num(i, "Width").unwrap_or(0),
                        height: num(i, "Height").unwrap_or(0),
                        depth: num(i, "Depth").unwrap_or(0),
                        data: text(i, "Data"),
                    })
                    .collect(),
            },
            "CiscoIPPhoneIconFileMenu" => Object::IconFileMenu {
                screen: screen(),
                items: read_icon_menu_items(e),
                icons: e
                    .all("IconItem")
                    .map(|i| IconFile {
                        index: num(i, "Index").unwrap_or(0),
                        url: text(i, "URL"),
                    })
                    .collect(),
            },
            "CiscoIPPhoneStatus" => Object::Status {
                text: e.text_of("Text").map(str::to_owned),
                timer: num(e, "Timer"),
                image: Bitmap::read(e),
            },
            "CiscoIPPhoneStatusFile" => Object::StatusFile {
                text: e.text_of("Text").map(str::to_owned),
                timer: num(e, "Timer"),
                x: num(e, "LocationX"),
                y: num(e, "LocationY"),
                url: text(e, "URL"),
            },
            "CiscoIPPhoneExecute" => Object::Execute {
                items: e
                    .all("ExecuteItem")
                    .map(|i| ExecuteItem {
                        priority: i.attribute("Priority").and_then(|p| p.parse().ok()),
                        url: i.attribute("URL").unwrap_or_default().to_owned(),
                    })
                    .collect(),
            },
            // Real phones answer with attributes; the schema variant with child elements is
            // read too, as is its misspelt root.
            "CiscoIPPhoneResponse" | "CiscoIPhoneResponse" => Object::Response {
                items: e
                    .all("ResponseItem")
                    .map(|i| {
                        let get =
                            |k: &str| i.attribute(k).or_else(|| i.text_of(k)).unwrap_or_default();
                        ResponseItem {
                            status: get("Status").trim().parse().unwrap_or(-1),
                            data: get("Data").to_owned(),
                            url: get("URL").to_owned(),
                        }
                    })
                    .collect(),
            },
            "CiscoIPPhoneError" => Object::Error {
                number: e
                    .attribute("Number")
                    .and_then(|n| n.trim().parse().ok())
                    .ok_or(Error::Value {
                        field: "Number",
                        got: e.attribute("Number").unwrap_or_default().to_owned(),
                    })?,
            },
            other => return Err(Error::UnknownObject(other.to_owned())),
        })
    }

    /// The title and softkeys, for objects that have them.
    pub fn screen(&self) -> Option<&Screen> {
        match self {
            Object::Menu { screen, .. }
            | Object::Text { screen, .. }
            | Object::Input { screen, .. }
            | Object::Directory { screen, .. }
            | Object::Image { screen, .. }
            | Object::ImageFile { screen, .. }
            | Object::GraphicMenu { screen, .. }
            | Object::GraphicFileMenu { screen, .. }
            | Object::IconMenu { screen, .. }
            | Object::IconFileMenu { screen, .. } => Some(screen),
            _ => None,
        }
    }

    /// Whether a text-only phone (a display of depth 1 without graphics) can show it.
    pub fn is_text_only(&self) -> bool {
        matches!(
            self,
            Object::Menu { .. }
                | Object::Text { .. }
                | Object::Input { .. }
                | Object::Directory { .. }
                | Object::Execute { .. }
                | Object::Response { .. }
                | Object::Error { .. }
        )
    }
}

fn valid_input_flags(f: &str) -> bool {
    let (kind, password) = match f.len() {
        1 => (f, false),
        2 if f.starts_with('P') => (&f[1..], true),
        2 if f.ends_with('P') => (&f[..1], true),
        _ => return false,
    };
    let _ = password;
    matches!(kind, "A" | "T" | "N" | "E" | "U" | "L")
}

/// One page of a long list for a CiscoIPPhoneDirectory: at most [`MAX_DIRECTORY_ENTRIES`] from
/// `page` (0-based), and whether another page follows.
pub fn directory_page<T: Clone>(all: &[T], page: usize) -> (Vec<T>, bool) {
    let start = page.saturating_mul(MAX_DIRECTORY_ENTRIES).min(all.len());
    let end = (start + MAX_DIRECTORY_ENTRIES).min(all.len());
    (all[start..end].to_vec(), end < all.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn menu_is_written_in_schema_order() {
        let menu = Object::Menu {
            screen: Screen {
                title: Some("Services".into()),
                prompt: Some("Choose".into()),
                softkeys: vec![SoftKey::new("Select", 1, "SoftKey:Select")],
                keys: vec![],
            },
            items: vec![MenuItem {
                name: "Weather & News".into(),
                url: "http://x/w?a=1&b=2".into(),
            }],
        };
        let xml = menu.to_xml().unwrap();
        let order: Vec<usize> = ["<Title>", "<Prompt>", "<SoftKeyItem>", "<MenuItem>"]
            .iter()
            .map(|t| xml.find(t).unwrap())
            .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{xml}");
        let sk = ["<Name>Select", "<Position>", "<URL>SoftKey"]
            .iter()
            .map(|t| xml.find(t).unwrap())
            .collect::<Vec<_>>();
        assert!(sk.windows(2).all(|w| w[0] < w[1]), "{xml}");
        assert!(xml.contains("Weather &amp; News"));
        assert_eq!(Object::parse(&xml).unwrap(), menu);
    }

    #[test]
    fn limits_are_errors_and_display_text_is_shortened() {
        let items = (0..101)
            .map(|i| MenuItem {
                name: format!("{i}"),
                url: "http://x".into(),
            })
            .collect();
        let err = Object::Menu {
            screen: Screen::default(),
            items,
        }
        .to_xml()
        .unwrap_err();
        assert_eq!(err.to_string(), "MenuItem: at most 100, got 101");
        let entries = vec![
            DirectoryEntry {
                name: "x".into(),
                telephone: "1".into()
            };
            33
        ];
        assert!(Object::Directory {
            screen: Screen::default(),
            entries
        }
        .to_xml()
        .is_err());
        let long = Object::Text {
            screen: Screen::titled(&"é".repeat(40)),
            text: "t".into(),
        }
        .to_xml()
        .unwrap();
        assert!(long.contains(&format!("<Title>{}</Title>", "é".repeat(32))));
        let url = "http://x/".to_owned() + &"a".repeat(300);
        assert!(Object::Execute {
            items: vec![ExecuteItem {
                priority: None,
                url
            }]
        }
        .to_xml()
        .is_err());
        assert!(Object::Input {
            screen: Screen::default(),
            url: "http://x".into(),
            items: vec![InputItem {
                display_name: "x".into(),
                query_string_param: "q".into(),
                input_flags: "Q".into(),
                default_value: None
            }]
        }
        .to_xml()
        .is_err());
    }

    #[test]
    fn reads_cisco_examples_in_their_own_order() {
        // Softkeys after the body and Name, URL, Position inside: Cisco's documentation order.
        let doc = r#"<CiscoIPPhoneText><Title>T</Title><Text>Hello</Text>
            <SoftKeyItem><Name>Exit</Name><URL>SoftKey:Exit</URL><Position>3</Position></SoftKeyItem>
            <Unknown>kept out</Unknown></CiscoIPPhoneText>"#;
        match Object::parse(doc).unwrap() {
            Object::Text { screen, text } => {
                assert_eq!(text, "Hello");
                assert_eq!(
                    screen.softkeys,
                    vec![SoftKey::new("Exit", 3, "SoftKey:Exit")]
                );
            }
            other => panic!("{other:?}"),
        }
        let resp = r#"<?xml version="1.0" encoding="utf-8"?><CiscoIPPhoneResponse>
            <ResponseItem URL="Dial:1000" Data="Success" Status="0"/></CiscoIPPhoneResponse>"#;
        assert_eq!(
            Object::parse(resp).unwrap(),
            Object::Response {
                items: vec![ResponseItem {
                    status: 0,
                    data: "Success".into(),
                    url: "Dial:1000".into()
                }]
            }
        );
        assert_eq!(
            Object::parse(
                r#"<CiscoIPPhoneError Number="4">Authentication error</CiscoIPPhoneError>"#
            )
            .unwrap(),
            Object::Error { number: 4 }
        );
        assert!(Object::parse("<CiscoIPPhoneError/>").is_err());
        assert!(Object::parse("<html/>").is_err());
    }

    #[test]
    fn pages_directories_by_32() {
        let all: Vec<u32> = (0..70).collect();
        assert_eq!(directory_page(&all, 0), ((0..32).collect(), true));
        assert_eq!(directory_page(&all, 2), ((64..70).collect(), false));
        assert_eq!(directory_page(&all, 9), (vec![], false));
    }
}
