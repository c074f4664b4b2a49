//! Request methods as a type: what the stack and call control compare, so a misspelt method
//! is a compile error rather than a branch never taken. Methods are case-sensitive (RFC 3261
//! 7.1); one Dialtone does not know is `Other`, and keeps its spelling in `Message::method`.

/// A SIP request method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    Invite,
    Ack,
    Cancel,
    Bye,
    Register,
    Options,
    Update,
    Info,
    Prack,
    Refer,
    Notify,
    Subscribe,
    Message,
    Publish,
    /// Any other method (extension methods are legal; they get 501 here).
    Other,
}

impl Method {
    pub fn parse(token: &str) -> Method {
        match token {
            "INVITE" => Method::Invite,
            "ACK" => Method::Ack,
            "CANCEL" => Method::Cancel,
            "BYE" => Method::Bye,
            "REGISTER" => Method::Register,
            "OPTIONS" => Method::Options,
            "UPDATE" => Method::Update,
            "INFO" => Method::Info,
            "PRACK" => Method::Prack,
            "REFER" => Method::Refer,
            "NOTIFY" => Method::Notify,
            "SUBSCRIBE" => Method::Subscribe,
            "MESSAGE" => Method::Message,
            "PUBLISH" => Method::Publish,
            _ => Method::Other,
        }
    }

    /// The method's token; `Other` has none of its own.
    pub fn as_str(self) -> Option<&'static str> {
        Some(match self {
            Method::Invite => "INVITE",
            Method::Ack => "ACK",
            Method::Cancel => "CANCEL",
            Method::Bye => "BYE",
            Method::Register => "REGISTER",
            Method::Options => "OPTIONS",
            Method::Update => "UPDATE",
            Method::Info => "INFO",
            Method::Prack => "PRACK",
            Method::Refer => "REFER",
            Method::Notify => "NOTIFY",
            Method::Subscribe => "SUBSCRIBE",
            Method::Message => "MESSAGE",
            Method::Publish => "PUBLISH",
            Method::Other => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_are_case_sensitive_and_round_trip() {
        for m in [
            Method::Invite,
            Method::Cancel,
            Method::Refer,
            Method::Publish,
        ] {
            assert_eq!(Method::parse(m.as_str().unwrap()), m);
        }
        assert_eq!(Method::parse("invite"), Method::Other);
        assert_eq!(Method::parse("FROBNICATE"), Method::Other);
        assert_eq!(Method::Other.as_str(), None);
    }
}
