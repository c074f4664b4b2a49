//! What the node plays itself: the audio sources music on hold chooses from, as Unified CM's
//! "Music On Hold Audio Sources" are chosen by a line's or a device pool's "User Hold MOH
//! Audio Source".

use super::*;

/// A music-on-hold audio source: the melody that ships with Dialtone, silence, or a WAV file
/// every node reads from the same path (as Unified CM has each node hold its own copy).
pub(crate) const MOH_AUDIO_SOURCE: Resource = Resource {
    name: "moh-audio-sources",
    singular: "music on hold audio source",
    table: "moh_audio_source",
    key: &["name"],
    fields: &[
        name_field("Audio source name, e.g. Lobby Music."),
        DESCRIPTION,
        Field {
            name: "audio",
            column: "audio",
            kind: Kind::Enum(&["melody", "silence", "file"]),
            default: Default::Str("melody"),
            doc: "What plays: the melody that ships with Dialtone, silence (the hold reaches the held phone as the holder sent it), or the WAV file `file` names.",
        },
        wav_file("With audio \"file\": the WAV file's absolute path on every node (PCM or float, any common rate, converted once to 8 kHz). A node that cannot read it plays phones.hold_music instead and logs why."),
    ],
    rules: &[Rule::RequiredWhen {
        field: "file",
        when: "audio",
        equals: "file",
    }],
    doc: "Music on hold audio sources: what a held party hears, chosen per line and per device pool.",
};

/// A WAV file the node plays, by absolute path (`file`; optional).
pub(crate) const fn wav_file(doc: &'static str) -> Field {
    Field {
        name: "file",
        column: "file",
        kind: Kind::Text {
            max: 1024,
            rule: TextRule::AbsolutePath,
        },
        default: Default::Null,
        doc,
    }
}

/// The field lines and device pools choose their source with.
pub(crate) const fn hold_audio_source(doc: &'static str) -> Field {
    Field {
        name: "hold_audio_source",
        column: "hold_audio_source_id",
        kind: Kind::Ref {
            target: "moh-audio-sources",
            owner: false,
        },
        default: Default::Null,
        doc,
    }
}
