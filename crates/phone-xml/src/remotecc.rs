//! Cisco's remote-control requests (`application/x-cisco-remotecc-request+xml`), the bodies of
//! the REFERs with which Unified CM asks a Cisco phone to act on one of its dialogs: answer a
//! ringing call, hold or retrieve a connected one. The dialog is named as the phone sees it
//! (its own tag is the local one).

use crate::tree::Element;

/// What the phone is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// Answer the ringing call (`answercallreq`).
    AnswerCall,
    /// Hold (true) or retrieve (false) the call (`holdretrievereq`).
    HoldRetrieve { hold: bool },
}

/// One of the phone's dialogs.
#[derive(Debug, Clone, Copy)]
pub struct DialogId<'a> {
    pub call_id: &'a str,
    /// The phone's tag.
    pub local_tag: &'a str,
    /// Ours.
    pub remote_tag: &'a str,
}

/// The request's XML, compact as Unified CM writes it.
pub fn request(request: Request, dialog: DialogId<'_>) -> String {
    let id = Element::new("dialogid")
        .leaf("callid", dialog.call_id)
        .leaf("localtag", dialog.local_tag)
        .leaf("remotetag", dialog.remote_tag);
    let body = match request {
        Request::AnswerCall => Element::new("answercallreq").child(id),
        Request::HoldRetrieve { hold } => Element::new("holdretrievereq")
            .child(id)
            .leaf("action", if hold { "hold" } else { "retrieve" }),
    };
    Element::new("x-cisco-remotecc-request")
        .child(body)
        .to_compact()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hold_request_names_the_dialog_escaped_and_parses_back() {
        let text = request(
            Request::HoldRetrieve { hold: true },
            DialogId {
                call_id: "a<b&c",
                local_tag: "phone",
                remote_tag: "ours",
            },
        );
        assert!(text.contains("<callid>a&lt;b&amp;c</callid>"), "{text}");
        let root = Element::parse(&text).unwrap();
        let req = root.first("holdretrievereq").unwrap();
        assert_eq!(req.text_of("action"), Some("hold"));
        let id = req.first("dialogid").unwrap();
        assert_eq!(id.text_of("callid"), Some("a<b&c"));
        assert_eq!(id.text_of("localtag"), Some("phone"));
        assert_eq!(id.text_of("remotetag"), Some("ours"));
    }
}
