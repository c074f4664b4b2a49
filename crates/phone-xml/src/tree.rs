//! A small element tree: the one place XML is written and read. Typed objects build trees in
//! the schema's order; anything parsed becomes a tree first and is then read by name, so the
//! order a peer chose does not matter.

use quick_xml::events::Event;
use quick_xml::Reader;

use crate::Error;

/// Largest document accepted by [`Element::parse`]: phones and services send kilobytes.
pub const MAX_DOCUMENT_BYTES: usize = 256 * 1024;
/// Deepest nesting accepted: phone XML is three levels deep; a deeper document is hostile.
const MAX_DEPTH: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Element {
    pub name: String,
    pub attributes: Vec<(String, String)>,
    pub children: Vec<Element>,
    /// Character data directly inside this element (concatenated, unescaped).
    pub text: String,
}

impl Element {
    pub fn new(name: &str) -> Element {
        Element {
            name: name.to_owned(),
            ..Default::default()
        }
    }

    pub fn attr(mut self, name: &str, value: impl Into<String>) -> Element {
        self.attributes.push((name.to_owned(), value.into()));
        self
    }

    pub fn child(mut self, child: Element) -> Element {
        self.children.push(child);
        self
    }

    /// A child `<name>text</name>`.
    pub fn leaf(self, name: &str, text: impl Into<String>) -> Element {
        let mut leaf = Element::new(name);
        leaf.text = text.into();
        self.child(leaf)
    }

    /// A child `<name>text</name>` only when there is a value.
    pub fn leaf_opt(self, name: &str, text: Option<impl Into<String>>) -> Element {
        match text {
            Some(t) => self.leaf(name, t),
            None => self,
        }
    }

    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn first(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The text of the first child called `name`.
    pub fn text_of(&self, name: &str) -> Option<&str> {
        self.first(name).map(|c| c.text.as_str())
    }

    /// A document: the declaration with its encoding, then this element.
    pub fn to_document(&self) -> String {
        let mut out = String::with_capacity(256);
        out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        self.write(&mut out, Some(0));
        out
    }

    /// The element on one line, without a declaration or whitespace between elements, as
    /// Unified CM writes remote-control requests.
    pub fn to_compact(&self) -> String {
        let mut out = String::with_capacity(256);
        self.write(&mut out, None);
        out
    }

    /// Write the element; `depth` indents it (None: compact, no line breaks).
    fn write(&self, out: &mut String, depth: Option<usize>) {
        let newline = if depth.is_some() { "\n" } else { "" };
        for _ in 0..depth.unwrap_or(0) {
            out.push_str("  ");
        }
        out.push('<');
        out.push_str(&self.name);
        for (n, v) in &self.attributes {
            out.push(' ');
            out.push_str(n);
            out.push_str("=\"");
            escape_into(v, out);
            out.push('"');
        }
        if self.children.is_empty() && self.text.is_empty() {
            out.push_str("/>");
            out.push_str(newline);
            return;
        }
        out.push('>');
        if self.children.is_empty() {
            escape_into(&self.text, out);
        } else {
            out.push_str(newline);
            for c in &self.children {
                c.write(out, depth.map(|d| d + 1));
            }
            for _ in 0..depth.unwrap_or(0) {
                out.push_str("  ");
            }
        }
        out.push_str("</");
        out.push_str(&self.name);
        out.push('>');
        out.push_str(newline);
    }

    /// Parse one document leniently: any element order, unknown elements kept, whitespace
    /// around text trimmed. Bounded in size and depth; never panics.
    pub fn parse(input: &str) -> Result<Element, Error> {
        if input.len() > MAX_DOCUMENT_BYTES {
            return Err(Error::TooLarge(input.len()));
        }
        let mut reader = Reader::from_str(input);
        let mut stack: Vec<Element> = Vec::new();
        loop {
            match reader.read_event() {
                Err(e) => return Err(Error::Syntax(e.to_string())),
                Ok(Event::Start(start)) => {
                    if stack.len() >= MAX_DEPTH {
                        return Err(Error::Syntax("elements nested too deep".into()));
                    }
                    stack.push(element_of(&start)?);
                }
                Ok(Event::Empty(start)) => {
                    let e = element_of(&start)?;
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(e),
                        None => return finish(reader, e),
                    }
                }
                Ok(Event::End(_)) => {
                    let mut done = stack
                        .pop()
                        .ok_or_else(|| Error::Syntax("stray end tag".into()))?;
                    done.text = done.text.trim().to_owned();
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(done),
                        None => return finish(reader, done),
                    }
                }
                Ok(Event::Text(t)) => {
                    if let Some(top) = stack.last_mut() {
                        let s = t.unescape().map_err(|e| Error::Syntax(e.to_string()))?;
                        top.text.push_str(&s);
                    }
                }
                Ok(Event::CData(t)) => {
                    if let Some(top) = stack.last_mut() {
                        top.text.push_str(&String::from_utf8_lossy(&t));
                    }
                }
                Ok(Event::Eof) => return Err(Error::Syntax("document ends early".into())),
                Ok(_) => {}
            }
        }
    }
}

fn finish(mut reader: Reader<&[u8]>, root: Element) -> Result<Element, Error> {
    // Whatever follows the root may only be whitespace, comments or processing instructions.
    loop {
        match reader.read_event() {
            Ok(Event::Eof) => return Ok(root),
            Ok(Event::Text(t)) if t.iter().all(u8::is_ascii_whitespace) => {}
            Ok(Event::Comment(_) | Event::PI(_)) => {}
            Ok(_) => return Err(Error::Syntax("content after the root element".into())),
            Err(e) => return Err(Error::Syntax(e.to_string())),
        }
    }
}

fn element_of(start: &quick_xml::events::BytesStart) -> Result<Element, Error> {
    let name = String::from_utf8_lossy(start.name().as_ref()).into_owned();
    let mut e = Element::new(&name);
    for a in start.attributes() {
        let a = a.map_err(|e| Error::Syntax(e.to_string()))?;
        let key = String::from_utf8_lossy(a.key.as_ref()).into_owned();
        let value = a
            .unescape_value()
            .map_err(|e| Error::Syntax(e.to_string()))?
            .into_owned();
        e.attributes.push((key, value));
    }
    Ok(e)
}

/// The five standard escapes; phones' parsers insist on them.
pub fn escape_into(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_every_special_character_and_reads_them_back() {
        let e = Element::new("CiscoIPPhoneText").leaf("Text", "a<b>&\"c'");
        let doc = e.to_document();
        assert!(doc.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"));
        assert!(doc.contains("a&lt;b&gt;&amp;&quot;c&apos;"));
        assert_eq!(Element::parse(&doc).unwrap(), e);
    }

    #[test]
    fn refuses_broken_and_trailing_content() {
        assert!(Element::parse("<a><b></a>").is_err());
        assert!(Element::parse("<a/><b/>").is_err());
        assert!(Element::parse("<a>").is_err());
        assert!(Element::parse("").is_err());
        let deep = "<a>".repeat(40) + &"</a>".repeat(40);
        assert!(Element::parse(&deep).is_err());
    }
}
