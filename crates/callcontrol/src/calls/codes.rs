//! Forced Authorization and Client Matter Codes entered at the tone, as the seed's WebDialer
//! section describes for Unified CM: a call whose route pattern needs a code is answered by
//! the node with media of its own, the caller hears the prompt tone and keys the code (RFC
//! 4733 telephone-events), ended by `#` or a pause; the number is analysed again with the
//! codes (`number#fac#cmc`). A good code rings the destination with no offer while the node
//! plays ringback (the caller's phone hears nobody else's), and the destination's offer is
//! joined to the caller by re-INVITE (RFC 3725), as a MakeCall's is. A bad or missing code,
//! or a destination that cannot be reached, plays the reorder tone for a while and hangs up.
//!
//! The audio is the node's business (`CodePrompts`); call control does the SIP, the timing
//! and the digits' meaning.

use super::*;
use dialtone_dialplan::Code;
use std::net::SocketAddr;

/// A tone call control asks the node to play to a caller it answered itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallTone {
    /// Key your code now (Unified CM's code prompt: two short high beeps).
    CodePrompt,
    Ringback,
    Reorder,
}

/// Where the node's prompts come from: one line (an RTP address of its own) per call.
pub trait CodePrompts: Send + Sync {
    /// A new line; `on_digit` is called with each RFC 4733 digit the caller keys into it.
    fn open(&self, on_digit: Box<dyn Fn(char) + Send + Sync>) -> Option<Box<dyn PromptLine>>;
}

/// One call's prompt line: dropped, its stream and its listening stop.
pub trait PromptLine: Send + Sync {
    /// Where the line receives RTP (put in Dialtone's SDP).
    fn address(&self) -> SocketAddr;
    /// Play `tone` to `to` in `codec` (replacing what played); None: stop playing.
    fn play(&mut self, to: SocketAddr, codec: Codec, tone: Option<CallTone>);
}

/// The caller answered by the node while codes are asked for, and until the call is joined
/// or has failed.
pub(super) struct Prompting {
    line: Box<dyn PromptLine>,
    /// Where the caller listens (None until an answer in the ACK).
    audio: Option<Audio>,
    tone: Option<CallTone>,
    /// The number as first dialled, before any code.
    number: String,
    /// Codes entered so far, in order (FAC, then CMC).
    codes: Vec<String>,
    /// Digits being entered and the moment the entry ends by itself.
    entering: Option<(String, Instant)>,
    /// The call failed: the reorder plays until then, and the call is hung up.
    ends_at: Option<Instant>,
}

/// The most digits one code may have (a longer entry ends by itself).
const MAX_CODE_DIGITS: usize = 32;

impl Prompting {
    fn sound(&mut self, tone: Option<CallTone>) {
        self.tone = tone;
        if let Some(a) = &self.audio {
            self.line.play(a.remote, a.codec, tone);
        }
    }

    /// When the call task must next look at the prompt.
    pub(super) fn wake(&self) -> Option<Instant> {
        self.ends_at.or(self.entering.as_ref().map(|(_, at)| *at))
    }
}

impl Call {
    /// The route pattern needs `code` and the caller has not given it: answer with the
    /// node's media and ask for it (a call Dialtone placed, or a node with no prompts, is
    /// refused 403 as before).
    pub(super) async fn ask_code(&mut self, code: Code, pattern: String, number: String) -> Next {
        if self.prompt.is_none() {
            let prompts = match (self.inner.prompts.get(), &self.a_invite, self.a_answered) {
                (Some(p), Some(_), false) => p.clone(),
                _ => {
                    return self
                        .fail_caller(403, &format!("{pattern} needs a {code:?} code after #"))
                        .await
                }
            };
            let tx = self.events_tx.clone();
            let Some(line) = prompts.open(Box::new(move |d| {
                let _ = tx.try_send(Input::Digit(d));
            })) else {
                return self.fail_caller(503, "no media for the code prompt").await;
            };
            let media = ServedMedia {
                local: line.address(),
                accept: vec![Codec::Pcmu, Codec::Pcma],
            };
            let audio = match self.answer_served(media, None).await {
                Ok((audio, _)) => audio,
                Err((next, _)) => return next,
            };
            self.prompt = Some(Prompting {
                line,
                audio,
                tone: None,
                number,
                codes: Vec::new(),
                entering: None,
                ends_at: None,
            });
        }
        tracing::info!(call = self.id, ?code, pattern, "asking for a code");
        let timeout = self.inner.config.code_digit_timeout;
        let p = self.prompt.as_mut().expect("just set");
        p.entering = Some((String::new(), Instant::now() + timeout));
        p.sound(Some(CallTone::CodePrompt));
        Next::Continue
    }

    /// The ACK of our answer carried the caller's audio: the tone can start.
    pub(super) fn prompt_heard_at(&mut self, audio: &Audio) {
        if let Some(p) = self.prompt.as_mut() {
            p.audio = Some(audio.clone());
            let tone = p.tone;
            p.sound(tone);
        }
    }

    /// A digit the caller keyed on the prompt line.
    pub(super) async fn on_code_digit(&mut self, digit: char) -> Next {
        let timeout = self.inner.config.code_digit_timeout;
        let Some(p) = self.prompt.as_mut() else {
            return Next::Continue;
        };
        let Some((digits, deadline)) = p.entering.as_mut() else {
            return Next::Continue;
        };
        if digit != '#' {
            digits.push(digit);
            *deadline = Instant::now() + timeout;
        }
        let done = digit == '#' || digits.len() >= MAX_CODE_DIGITS;
        if p.tone == Some(CallTone::CodePrompt) {
            p.sound(None);
        }
        if done {
            return self.code_entered().await;
        }
        Next::Continue
    }

    /// The entry ended (`#`, a pause, or its length): analyse the number again with it.
    pub(super) async fn code_entered(&mut self) -> Next {
        let Some(p) = self.prompt.as_mut() else {
            return Next::Continue;
        };
        let Some((digits, _)) = p.entering.take() else {
            return Next::Continue;
        };
        if digits.is_empty() {
            // Nothing keyed at the tone: the call fails with reorder, as the seed says.
            self.prompt_fails(403, "no code entered at the tone");
            return Next::Continue;
        }
        p.codes.push(digits);
        let with = format!("{}#{}", p.number, p.codes.join("#"));
        self.route(&with).await
    }

    /// Routing found somewhere to ring after the codes: ringback from the node while it
    /// rings, and the forks go out with no offer (the caller's answer was ours).
    pub(super) fn prompt_rings(&mut self) {
        if let Some(p) = self.prompt.as_mut() {
            p.sound(Some(CallTone::Ringback));
            self.served = None;
            self.given_up_at = Instant::now() + self.inner.config.max_ringing;
        }
    }

    /// The call failed after the node answered the caller: the reorder plays, then the call
    /// is hung up. False when the caller was not answered by the node.
    pub(super) fn prompt_fails(&mut self, code: u16, why: &str) -> bool {
        let hold_for = self.inner.config.reorder_time;
        let Some(p) = self.prompt.as_mut().filter(|p| p.ends_at.is_none()) else {
            return false;
        };
        tracing::info!(
            call = self.id,
            code,
            why,
            "call failed after the code prompt"
        );
        p.entering = None;
        p.ends_at = Some(Instant::now() + hold_for);
        p.sound(Some(CallTone::Reorder));
        true
    }

    /// A prompt deadline passed: the entry ends, or a failed call's reorder has played.
    pub(super) async fn on_prompt_timer(&mut self, now: Instant) -> Option<Next> {
        let p = self.prompt.as_ref()?;
        if p.ends_at.is_some_and(|at| now >= at) {
            self.prompt = None;
            return Some(self.hang_up_all("failed").await);
        }
        if p.entering.as_ref().is_some_and(|(_, at)| now >= *at) {
            return Some(self.code_entered().await);
        }
        None
    }
}
