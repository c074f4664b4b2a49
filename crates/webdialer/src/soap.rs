//! WebDialer's SOAP interface, Cisco's WSDL (`wsdl/wd70.wsdl`, rpc/encoded, `urn:WD70`) and the
//! legacy `urn:WebdialerSoap` service. Requests are read leniently: parts by position (`in0..2`
//! or `cred`/`dest`/`prof`), struct fields by local name, with or without `xsi:type`, inline or
//! as Axis `multiRef`s reached through `href`. Answers are rpc/encoded as Unified CM's Axis
//! writes them: `xsi:type`s, and structures as multiRefs beside the response (Axis, SoapUI and
//! python-zeep all read them).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use dialtone_phone_xml::tree::Element;

use crate::{line_label, Code, Credential, Devices, Profile, Reply, WebDialer};

/// Cisco's WSDL, served with the node's own address.
pub const WSDL: &str = include_str!("../wsdl/wd70.wsdl");
pub const SERVICE_PATH: &str = "/webdialer/services/WebdialerSoapService70";
pub const LEGACY_PATH: &str = "/webdialer/services/WebdialerSoapService";
const WSDL_ADDRESS: &str =
    "https://ds-ucm115-1.cisco.com:8443/webdialer/services/WebdialerSoapService70";

const ENVELOPE_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
const ENCODING_NS: &str = "http://schemas.xmlsoap.org/soap/encoding/";
const XSI_NS: &str = "http://www.w3.org/2001/XMLSchema-instance";
const XSD_NS: &str = "http://www.w3.org/2001/XMLSchema";
const WD70_NS: &str = "urn:WD70";

pub fn router(wd: Arc<WebDialer>) -> Router {
    Router::new()
        .route(SERVICE_PATH, get(service_get).post(service_post))
        .route(LEGACY_PATH, get(service_get).post(service_post))
        .route("/webdialer/wsdl/wd70.wsdl", get(wsdl))
        .with_state(wd)
}

/// The WSDL with its endpoint at the host the client reached us by.
fn wsdl_for(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            h.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
        })
        .unwrap_or("localhost:8443");
    WSDL.replace(WSDL_ADDRESS, &format!("https://{host}{SERVICE_PATH}"))
}

/// The WSDL, with an ETag of what it says to the client (its address included), so a
/// toolkit that fetches it on every start gets 304 while it is current.
fn wsdl_response(headers: &HeaderMap) -> Response {
    dialtone_web::assets::respond(
        headers,
        "text/xml; charset=utf-8",
        wsdl_for(headers).into_bytes(),
    )
}

async fn wsdl(headers: HeaderMap) -> Response {
    wsdl_response(&headers)
}

/// `GET ...?wsdl` as Axis answers it; anything else is told to POST.
async fn service_get(
    headers: HeaderMap,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    if q.keys().any(|k| k.eq_ignore_ascii_case("wsdl")) {
        return wsdl_response(&headers);
    }
    (
        StatusCode::METHOD_NOT_ALLOWED,
        [(header::ALLOW, "POST")],
        "POST a SOAP request here; the WSDL is at ?wsdl",
    )
        .into_response()
}

fn xml(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
        body,
    )
        .into_response()
}

async fn service_post(State(wd): State<Arc<WebDialer>>, body: Bytes) -> Response {
    let request = match std::str::from_utf8(&body)
        .map_err(|_| Malformed("the request is not UTF-8".into()))
        .and_then(Request::parse)
    {
        Ok(r) => r,
        Err(Malformed(why)) => return fault("Client", &why),
    };
    match answer(&wd, &request).await {
        Ok(result) => xml(StatusCode::OK, envelope(&request, result)),
        Err(why) => fault("Server", &why),
    }
}

/// One SOAP request: the operation, its namespace and its parts in order, `href`s resolved.
#[derive(Debug)]
pub struct Request {
    pub operation: String,
    pub namespace: String,
    pub parts: Vec<Element>,
}

/// The name without its prefix.
fn local(name: &str) -> &str {
    name.rsplit(':').next().unwrap_or(name)
}

fn prefix(name: &str) -> &str {
    name.split_once(':').map_or("", |(p, _)| p)
}

fn child<'a>(e: &'a Element, name: &str) -> Option<&'a Element> {
    e.children.iter().find(|c| local(&c.name) == name)
}

fn is_nil(e: &Element) -> bool {
    e.attributes
        .iter()
        .any(|(n, v)| local(n) == "nil" && (v == "true" || v == "1"))
}

/// A string field (nil and absent read as empty).
fn text(e: &Element, name: &str) -> String {
    child(e, name)
        .filter(|c| !is_nil(c))
        .map(|c| c.text.clone())
        .unwrap_or_default()
}

/// Why a SOAP request could not be read (answered with a Client fault saying so).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Malformed(pub String);

/// The message, for the fault's text and for matching in tests.
impl std::ops::Deref for Malformed {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl Request {
    pub fn parse(text: &str) -> Result<Request, Malformed> {
        Self::read(text).map_err(Malformed)
    }

    fn read(text: &str) -> Result<Request, String> {
        let root = Element::parse(text).map_err(|e| format!("malformed XML: {e}"))?;
        if local(&root.name) != "Envelope" {
            return Err("the document is not a SOAP envelope".into());
        }
        let body = child(&root, "Body").ok_or("the envelope has no Body")?;
        // The operation is the Body's first element that is not a multiRef (Axis puts those
        // after it, marked root="0").
        let op = body
            .children
            .iter()
            .find(|c| {
                !c.attributes
                    .iter()
                    .any(|(n, v)| local(n) == "root" && v == "0")
                    && local(&c.name) != "multiRef"
            })
            .ok_or("the Body names no operation")?;
        let p = prefix(&op.name);
        let xmlns = if p.is_empty() {
            "xmlns".to_string()
        } else {
            format!("xmlns:{p}")
        };
        let namespace = [op, body, &root]
            .iter()
            .find_map(|e| e.attribute(&xmlns))
            .unwrap_or(WD70_NS)
            .to_string();
        let mut budget = MAX_RESOLVED_ELEMENTS;
        let parts = op
            .children
            .iter()
            .map(|part| resolve(part, body, 0, &mut budget))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Request {
            operation: local(&op.name).to_string(),
            namespace,
            parts,
        })
    }

    fn part(&self, i: usize) -> Result<&Element, String> {
        self.parts
            .get(i)
            .ok_or_else(|| format!("{} needs part {i}", self.operation))
    }

    fn credential(&self, i: usize) -> Result<Credential, String> {
        let c = self.part(i)?;
        Ok(Credential {
            user_id: text(c, "userID"),
            password: text(c, "password"),
            token: Some(text(c, "token")).filter(|t| !t.is_empty()),
        })
    }

    fn string(&self, i: usize) -> Result<String, String> {
        let e = self.part(i)?;
        Ok(if is_nil(e) {
            String::new()
        } else {
            e.text.clone()
        })
    }

    fn profile(&self, i: usize) -> Result<Profile, String> {
        let p = self.part(i)?;
        let opt = |name: &str| Some(text(p, name)).filter(|v| !v.is_empty());
        Ok(Profile {
            user: text(p, "user"),
            device: opt("deviceName"),
            line: opt("lineNumber"),
            // supportEM, locale, dontAutoClose and dontShowCallConf are read by Unified
            // CM's HTML pages only; the SOAP interface ignores them.
            from: Devices::Any,
        })
    }
}

/// Elements a request may come to once its `href`s are followed: WebDialer's requests have
/// a few dozen, and references to references could otherwise multiply a small document
/// into a huge one.
const MAX_RESOLVED_ELEMENTS: usize = 1_000;

/// The part itself, or the multiRef its `href` points at, with nested hrefs resolved.
fn resolve(
    part: &Element,
    body: &Element,
    depth: usize,
    budget: &mut usize,
) -> Result<Element, String> {
    if depth > 8 {
        return Err("multiRefs nested too deep".into());
    }
    *budget = budget
        .checked_sub(1)
        .ok_or("the request's references come to too many elements")?;
    let mut out = match part.attribute("href") {
        Some(href) => {
            let id = href.strip_prefix('#').unwrap_or(href);
            let target = body
                .children
                .iter()
                .find(|c| c.attribute("id") == Some(id))
                .ok_or_else(|| format!("href {href} points at nothing"))?;
            let mut t = target.clone();
            t.name = part.name.clone();
            t
        }
        None => part.clone(),
    };
    out.children = out
        .children
        .iter()
        .map(|c| resolve(c, body, depth + 1, budget))
        .collect::<Result<_, _>>()?;
    Ok(out)
}

/// What an operation returns, before it is written.
enum Return {
    Call(Reply),
    Config {
        outcome: Reply,
        devices: Vec<(String, String)>,
    },
    ConfigDetail {
        outcome: Reply,
        devices: Vec<crate::UserDevice>,
    },
    Boolean(bool),
    Text(String),
}

async fn answer(wd: &WebDialer, r: &Request) -> Result<Return, String> {
    if let Err(o) = wd.activated().await {
        return match r.operation.as_str() {
            "makeCallSoap" | "endCallSoap" => Ok(Return::Call(o)),
            "getProfileSoap" => Ok(Return::Config {
                outcome: o,
                devices: Vec::new(),
            }),
            "getProfileDetailSoap" => Ok(Return::ConfigDetail {
                outcome: o,
                devices: Vec::new(),
            }),
            // A boolean or a string has no room for a code.
            _ => Err(o.description()),
        };
    }
    Ok(match r.operation.as_str() {
        "makeCallSoap" => {
            let cred = r.credential(0)?;
            let destination = r.string(1)?;
            let profile = r.profile(2)?;
            Return::Call(
                match wd.acting_for(&cred, &profile.user, true).await {
                    Ok(user) => wd
                        .make_call(&user, &destination, &profile)
                        .await
                        .map(|_| Reply::plain(Code::Success)),
                    Err(o) => Err(o),
                }
                .unwrap_or_else(|o| o),
            )
        }
        "endCallSoap" => {
            let cred = r.credential(0)?;
            let profile = r.profile(1)?;
            Return::Call(
                match wd.acting_for(&cred, &profile.user, true).await {
                    Ok(user) => wd
                        .end_call(&user, &profile)
                        .await
                        .map(|_| Reply::plain(Code::Success)),
                    Err(o) => Err(o),
                }
                .unwrap_or_else(|o| o),
            )
        }
        "getProfileSoap" => {
            let cred = r.credential(0)?;
            let named = r.string(1)?;
            let devices = match wd.acting_for(&cred, &named, true).await {
                Ok(user) => wd.devices(&user).await,
                Err(o) => Err(o),
            };
            match devices {
                Ok(devices) => Return::Config {
                    outcome: Reply::plain(Code::Success),
                    devices: devices
                        .iter()
                        .flat_map(|d| {
                            d.lines
                                .iter()
                                .map(|(n, p)| (d.name.clone(), line_label(n, p.as_deref())))
                        })
                        .collect(),
                },
                Err(outcome) => Return::Config {
                    outcome,
                    devices: Vec::new(),
                },
            }
        }
        "getProfileDetailSoap" => {
            let cred = r.credential(0)?;
            let devices = match wd.acting_for(&cred, "", false).await {
                Ok(user) => wd.devices(&user).await,
                Err(o) => Err(o),
            };
            match devices {
                Ok(devices) => Return::ConfigDetail {
                    outcome: Reply::plain(Code::Success),
                    devices,
                },
                Err(outcome) => Return::ConfigDetail {
                    outcome,
                    devices: Vec::new(),
                },
            }
        }
        "isClusterUserSoap" => {
            let user = r.string(0)?;
            Return::Boolean(
                wd.is_cluster_user(&user)
                    .await
                    .map_err(|e| Reply::from(e).description())?,
            )
        }
        "getPrimaryLine" => {
            let cred = r.credential(0)?;
            let line = match wd.acting_for(&cred, "", false).await {
                Ok(user) => wd.primary_line(&user).await,
                Err(o) => Err(o),
            };
            Return::Text(line.map_err(|o| o.description())?)
        }
        other => return Err(format!("no operation {other}")),
    })
}

fn typed(name: &str, ty: &str, value: impl Into<String>) -> Element {
    let mut e = Element::new(name).attr("xsi:type", ty);
    e.text = value.into();
    e
}

fn outcome_fields(e: Element, o: &Reply) -> Element {
    e.child(typed("responseCode", "xsd:int", (o.code as u8).to_string()))
        .child(typed("responseDescription", "xsd:string", o.description()))
}

fn array(name: &str, item_type: &str, items: Vec<Element>) -> Element {
    let mut e = Element::new(name)
        .attr("xsi:type", "soapenc:Array")
        .attr("soapenc:arrayType", format!("{item_type}[{}]", items.len()));
    e.children = items;
    e
}

fn envelope(r: &Request, result: Return) -> String {
    let name = format!("{}Return", r.operation);
    let value = match result {
        Return::Call(o) => {
            outcome_fields(Element::new(&name).attr("xsi:type", "ns1:CallResponse"), &o)
        }
        Return::Config { outcome, devices } => {
            let items = devices
                .into_iter()
                .map(|(device, line)| {
                    Element::new("item")
                        .attr("xsi:type", "ns1:WDDeviceInfo")
                        .child(typed("deviceName", "xsd:string", device))
                        .child(typed("lines", "xsd:string", line))
                })
                .collect();
            Element::new(&name)
                .attr("xsi:type", "ns1:GetConfigResponse")
                .child(typed("description", "xsd:string", outcome.description()))
                .child(array("deviceInfoList", "ns1:WDDeviceInfo", items))
                .child(typed(
                    "responseCode",
                    "xsd:int",
                    (outcome.code as u8).to_string(),
                ))
        }
        Return::ConfigDetail { outcome, devices } => {
            let items = devices
                .into_iter()
                .map(|d| {
                    let lines = d
                        .lines
                        .iter()
                        .map(|(n, p)| typed("item", "soapenc:string", line_label(n, p.as_deref())))
                        .collect();
                    Element::new("item")
                        .attr("xsi:type", "ns1:WDDeviceInfoDetail")
                        .child(typed("deviceName", "soapenc:string", d.name))
                        .child(array("lines", "soapenc:string", lines))
                        .child(typed("phoneDesc", "soapenc:string", d.description))
                        .child(typed("phoneType", "soapenc:string", d.model))
                })
                .collect();
            Element::new(&name)
                .attr("xsi:type", "ns1:ConfigResponseDetail")
                .child(typed(
                    "description",
                    "soapenc:string",
                    outcome.description(),
                ))
                .child(array(
                    "deviceInfoListDetail",
                    "ns1:WDDeviceInfoDetail",
                    items,
                ))
                .child(typed(
                    "responseCode",
                    "xsd:int",
                    (outcome.code as u8).to_string(),
                ))
        }
        Return::Boolean(b) => typed(&name, "xsd:boolean", b.to_string()),
        Return::Text(s) => typed(&name, "soapenc:string", s),
    };
    // As Unified CM's Axis answers: structures travel as multiRefs beside the response,
    // reached by href (Axis and SoapUI clients expect it; python-zeep follows it too).
    let mut refs = Vec::new();
    let value = by_reference(value, &r.namespace, &mut refs);
    let response = Element::new(&format!("ns1:{}Response", r.operation))
        .attr("soapenv:encodingStyle", ENCODING_NS)
        .attr("xmlns:ns1", r.namespace.clone())
        .child(value);
    let mut body = vec![response];
    body.extend(refs);
    soap_envelope(body)
}

/// `e` with every structure (an element with children that is not an array) moved into a
/// multiRef in `refs` and replaced by an href to it.
fn by_reference(mut e: Element, namespace: &str, refs: &mut Vec<Element>) -> Element {
    e.children = std::mem::take(&mut e.children)
        .into_iter()
        .map(|c| by_reference(c, namespace, refs))
        .collect();
    let is_array = e.attribute("xsi:type") == Some("soapenc:Array");
    if e.children.is_empty() || is_array {
        return e;
    }
    let id = format!("id{}", refs.len());
    let mut target = Element::new("multiRef")
        .attr("id", id.clone())
        .attr("soapenc:root", "0")
        .attr("soapenv:encodingStyle", ENCODING_NS)
        .attr("xmlns:ns1", namespace);
    target.attributes.extend(
        e.attributes
            .iter()
            .filter(|(n, _)| n == "xsi:type")
            .cloned(),
    );
    target.children = e.children;
    refs.push(target);
    Element::new(&e.name).attr("href", format!("#{id}"))
}

fn soap_envelope(content: Vec<Element>) -> String {
    let mut body = Element::new("soapenv:Body");
    body.children = content;
    Element::new("soapenv:Envelope")
        .attr("xmlns:soapenv", ENVELOPE_NS)
        .attr("xmlns:soapenc", ENCODING_NS)
        .attr("xmlns:xsd", XSD_NS)
        .attr("xmlns:xsi", XSI_NS)
        .child(body)
        .to_document()
}

fn fault(side: &str, why: &str) -> Response {
    let body = soap_envelope(vec![Element::new("soapenv:Fault")
        .leaf("faultcode", format!("soapenv:{side}"))
        .leaf("faultstring", why)]);
    xml(StatusCode::INTERNAL_SERVER_ERROR, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ZEEP: &str = r#"<?xml version='1.0' encoding='utf-8'?>
<soap-env:Envelope xmlns:soap-env="http://schemas.xmlsoap.org/soap/envelope/"><soap-env:Body><ns0:makeCallSoap xmlns:ns0="urn:WD70"><in0><userID>ann</userID><password>pw</password></in0><in1>1002</in1><in2><user>ann</user><deviceName>SEP1</deviceName><lineNumber>1001</lineNumber><supportEM>false</supportEM><locale>English</locale><dontAutoClose>false</dontAutoClose><dontShowCallConf>true</dontShowCallConf></in2></ns0:makeCallSoap></soap-env:Body></soap-env:Envelope>"#;

    const AXIS: &str = r##"<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <soapenv:Body>
  <ns1:makeCallSoap soapenv:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/" xmlns:ns1="urn:WD70">
   <in0 href="#id0"/>
   <in1 xsi:type="soapenc:string" xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/">1002</in1>
   <in2 href="#id1"/>
  </ns1:makeCallSoap>
  <multiRef id="id0" soapenc:root="0" soapenv:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/" xsi:type="ns2:Credential" xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/" xmlns:ns2="urn:WD70">
   <token xsi:type="xsd:string" xsi:nil="true"/>
   <userID xsi:type="xsd:string">ann</userID>
   <password xsi:type="xsd:string">pw</password>
  </multiRef>
  <multiRef id="id1" soapenc:root="0" soapenv:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/" xsi:type="ns3:UserProfile" xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/" xmlns:ns3="urn:WD70">
   <user xsi:type="xsd:string">ann</user>
   <deviceName xsi:type="xsd:string">SEP1</deviceName>
   <lineNumber xsi:type="xsd:string">1001</lineNumber>
   <supportEM xsi:type="xsd:boolean">true</supportEM>
   <locale xsi:type="xsd:string">English</locale>
   <dontAutoClose xsi:type="xsd:boolean">false</dontAutoClose>
   <dontShowCallConf xsi:type="xsd:boolean">false</dontShowCallConf>
  </multiRef>
 </soapenv:Body>
</soapenv:Envelope>"##;

    #[test]
    fn bare_and_multiref_requests_read_the_same() {
        // supportEM differs (false, true) and is ignored alike.
        for doc in [ZEEP, AXIS] {
            let r = Request::parse(doc).unwrap();
            assert_eq!(r.operation, "makeCallSoap");
            assert_eq!(r.namespace, "urn:WD70");
            let c = r.credential(0).unwrap();
            assert_eq!((c.user_id.as_str(), c.password.as_str()), ("ann", "pw"));
            assert_eq!(c.token, None);
            assert_eq!(r.string(1).unwrap(), "1002");
            let p = r.profile(2).unwrap();
            assert_eq!(p.user, "ann");
            assert_eq!(p.device.as_deref(), Some("SEP1"));
            assert_eq!(p.line.as_deref(), Some("1001"));
            assert_eq!(p.from, Devices::Any);
        }
    }

    #[test]
    fn legacy_parts_are_read_by_position_and_answered_in_their_namespace() {
        let doc = r#"<S:Envelope xmlns:S="http://schemas.xmlsoap.org/soap/envelope/"><S:Body><w:isClusterUserSoap xmlns:w="urn:WebdialerSoap"><userid>ann</userid></w:isClusterUserSoap></S:Body></S:Envelope>"#;
        let r = Request::parse(doc).unwrap();
        assert_eq!(r.namespace, "urn:WebdialerSoap");
        assert_eq!(r.string(0).unwrap(), "ann");
        let out = envelope(&r, Return::Boolean(true));
        assert!(out.contains(r#"xmlns:ns1="urn:WebdialerSoap""#), "{out}");
        assert!(
            out.contains(
                "<isClusterUserSoapReturn xsi:type=\"xsd:boolean\">true</isClusterUserSoapReturn>"
            ),
            "{out}"
        );
    }

    #[test]
    fn structures_are_answered_as_multirefs_and_arrays_reach_theirs() {
        let r = Request::parse(ZEEP).unwrap();
        let out = envelope(&r, Return::Call(Reply::plain(Code::Success)));
        let doc = Element::parse(&out).unwrap();
        let body = child(&doc, "Body").unwrap();
        let ret = child(&body.children[0], "makeCallSoapReturn").unwrap();
        assert_eq!(ret.attribute("href"), Some("#id0"), "{out}");
        let target = &body.children[1];
        assert_eq!(
            (target.attribute("id"), target.attribute("xsi:type")),
            (Some("id0"), Some("ns1:CallResponse"))
        );
        assert_eq!(text(target, "responseDescription"), "Success");

        let out = envelope(
            &Request::parse(&ZEEP.replace("makeCallSoap", "getProfileSoap")).unwrap(),
            Return::Config {
                outcome: Reply::plain(Code::Success),
                devices: vec![
                    ("SEP1".into(), "1001 ; P".into()),
                    ("SEP1".into(), "1002 ; P".into()),
                ],
            },
        );
        let doc = Element::parse(&out).unwrap();
        let body = child(&doc, "Body").unwrap();
        let by_id = |id: &str| {
            body.children
                .iter()
                .find(|c| c.attribute("id") == Some(id.trim_start_matches('#')))
                .unwrap()
        };
        let ret = by_id(
            child(&body.children[0], "getProfileSoapReturn")
                .unwrap()
                .attribute("href")
                .unwrap(),
        );
        let list = child(ret, "deviceInfoList").unwrap();
        assert_eq!(
            list.attribute("soapenc:arrayType"),
            Some("ns1:WDDeviceInfo[2]")
        );
        let second = by_id(list.children[1].attribute("href").unwrap());
        assert_eq!(text(second, "lines"), "1002 ; P");
    }

    #[test]
    fn broken_requests_are_refused_with_a_reason() {
        assert!(Request::parse("<x/>")
            .unwrap_err()
            .contains("not a SOAP envelope"));
        assert!(
            Request::parse("<E:Envelope xmlns:E='x'><E:Body/></E:Envelope>")
                .unwrap_err()
                .contains("no operation")
        );
        let dangling = r##"<E:Envelope xmlns:E="x"><E:Body><m:getPrimaryLine xmlns:m="urn:WD70"><in0 href="#nope"/></m:getPrimaryLine></E:Body></E:Envelope>"##;
        assert!(Request::parse(dangling)
            .unwrap_err()
            .contains("points at nothing"));
        let r = Request::parse("<E:Envelope xmlns:E='x'><E:Body><m:makeCallSoap xmlns:m='urn:WD70'/></E:Body></E:Envelope>").unwrap();
        assert!(r.credential(0).unwrap_err().contains("needs part 0"));
    }

    proptest::proptest! {
        /// Whatever arrives, reading it (and its parts) gives a value or a reason, never a
        /// panic.
        #[test]
        fn arbitrary_and_mangled_requests_never_panic(
            which in 0usize..2,
            cut in 0usize..2000,
            at in 0usize..2000,
            insert in ".{0,12}",
            noise in ".{0,300}",
        ) {
            let _ = Request::parse(&noise);
            let doc = [ZEEP, AXIS][which];
            let chars = doc.chars().count();
            let index = |n: usize| doc.char_indices().map(|(i, _)| i).nth(n % chars).unwrap_or(0);
            let (cut, at) = (index(cut), index(at));
            let mut mangled = doc[..cut.max(at)].to_string();
            mangled.insert_str(at.min(mangled.len()), &insert);
            if let Ok(r) = Request::parse(&mangled) {
                for i in 0..4 {
                    let _ = r.credential(i);
                    let _ = r.string(i);
                    let _ = r.profile(i);
                }
                let _ = envelope(&r, Return::Text(insert.clone()));
            }
            let _ = crate::dialable(&noise);
            let _ = dialtone_store::parameters::parse_webdialer_list(&noise);
        }
    }

    #[test]
    fn references_cannot_multiply_a_request() {
        // Each level refers to the next ten times: 10^6 elements from a few hundred bytes.
        let mut refs = String::new();
        for level in 0..6 {
            let kids: String = (0..10)
                .map(|_| format!(r##"<x href="#r{}"/>"##, level + 1))
                .collect();
            refs.push_str(&format!(
                r#"<multiRef id="r{level}" soapenc:root="0">{kids}</multiRef>"#
            ));
        }
        refs.push_str(r#"<multiRef id="r6" soapenc:root="0">leaf</multiRef>"#);
        let doc = format!(
            r##"<E:Envelope xmlns:E="x" xmlns:soapenc="y"><E:Body><m:getPrimaryLine xmlns:m="urn:WD70"><in0 href="#r0"/></m:getPrimaryLine>{refs}</E:Body></E:Envelope>"##
        );
        assert!(Request::parse(&doc)
            .unwrap_err()
            .contains("too many elements"));
    }

    #[test]
    fn the_wsdl_is_served_with_our_address() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, "10.1.1.1:8443".parse().unwrap());
        let w = wsdl_for(&h);
        assert!(w.contains("https://10.1.1.1:8443/webdialer/services/WebdialerSoapService70"));
        assert!(!w.contains("ds-ucm115"));
        h.insert(header::HOST, "evil\"><x".parse().unwrap());
        assert!(wsdl_for(&h).contains("https://localhost:8443/"));
    }
}
