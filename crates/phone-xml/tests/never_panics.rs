//! Whatever a phone, a service or an attacker sends, reading it gives a value or an error.

use dialtone_phone_xml::config::Parsed;
use dialtone_phone_xml::uri::Uri;
use dialtone_phone_xml::{DirectoryEntry, Object, Screen, SoftKey};
use proptest::prelude::*;

const SAMPLES: &[&str] = &[
    r#"<?xml version="1.0" encoding="utf-8"?><CiscoIPPhoneMenu><Title>T</Title><MenuItem><Name>a &amp; b</Name><URL>http://x/?a=1&amp;b=2</URL></MenuItem><SoftKeyItem><Name>Exit</Name><Position>3</Position><URL>SoftKey:Exit</URL></SoftKeyItem></CiscoIPPhoneMenu>"#,
    r#"<CiscoIPPhoneResponse><ResponseItem URL="Dial:1000" Data="Success" Status="0"/></CiscoIPPhoneResponse>"#,
    r#"<CiscoIPPhoneExecute><ExecuteItem Priority="0" URL="http://x/y"/></CiscoIPPhoneExecute>"#,
    r#"<CiscoIPPhoneIconMenu><MenuItem><Name>a</Name><URL>u</URL><IconIndex>1</IconIndex></MenuItem><IconItem><Index>1</Index><Width>10</Width><Height>10</Height><Depth>2</Depth><Data>FF</Data></IconItem></CiscoIPPhoneIconMenu>"#,
    r#"<device><versionStamp>{1}</versionStamp><sipProfile><sipLines><line lineIndex="1"><name>1000</name></line></sipLines></sipProfile></device>"#,
];

proptest! {
    #[test]
    fn arbitrary_text_never_panics(s in ".{0,400}") {
        let _ = Object::parse(&s);
        let _ = Parsed::parse(&s);
        let _ = Uri::parse(&s);
    }

    #[test]
    fn mangled_documents_never_panic(which in 0..SAMPLES.len(), cut in 0usize..400, insert in ".{0,8}", at in 0usize..400) {
        let doc = SAMPLES[which];
        let cut = doc.char_indices().map(|(i, _)| i).nth(cut % doc.chars().count()).unwrap_or(0);
        let at = doc.char_indices().map(|(i, _)| i).nth(at % doc.chars().count()).unwrap_or(0);
        let mut mangled = doc[..cut.max(at)].to_string();
        mangled.insert_str(at.min(mangled.len()), &insert);
        let _ = Object::parse(&mangled);
        let _ = Parsed::parse(&mangled);
    }

    #[test]
    fn written_directories_read_back_the_same(names in proptest::collection::vec(("[^\u{0}-\u{1f}]{0,32}", "[0-9*#]{1,20}"), 0..32)) {
        let entries: Vec<DirectoryEntry> = names
            .into_iter()
            .map(|(name, telephone)| DirectoryEntry { name: name.trim().to_string(), telephone })
            .collect();
        let object = Object::Directory {
            screen: Screen { softkeys: vec![SoftKey::new("Dial", 1, "SoftKey:Dial")], ..Screen::titled("D") },
            entries,
        };
        let xml = object.to_xml().unwrap();
        prop_assert_eq!(Object::parse(&xml).unwrap(), object);
    }
}
