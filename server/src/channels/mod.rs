//! Channel protocols (WeCom self-built app and AI bot, 今日校园, CAS): pure formats, crypto and HTTP clients, no routes.
//!
//! The contracts as built are described in `docs/channels.md`; the external sources in `spec/channels.md`.

pub mod cas;
pub mod cpdaily;
pub mod dispatch;
pub mod notices;
pub mod wecom_aibot;
pub mod wecom_api;
pub mod wecom_crypto;
pub mod wecom_render;
pub mod wecom_xml;

#[cfg(test)]
mod hostile_text;

/// Cuts `text` to at most `max_bytes` UTF-8 bytes on a character boundary, ending with "…" when cut.
pub fn truncate_to_bytes(text: &str, max_bytes: usize) -> String {
    if text.len() <= max_bytes {
        return text.to_owned();
    }
    const ELLIPSIS: &str = "…";
    let budget = max_bytes.saturating_sub(ELLIPSIS.len());
    let mut end = budget;
    while end > 0 && !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut cut = text[..end].trim_end().to_owned();
    if max_bytes >= ELLIPSIS.len() {
        cut.push_str(ELLIPSIS);
    }
    cut
}

/// Cuts `text` to at most `max_chars` characters, ending with "…" when cut (WeCom card limits count characters).
pub fn truncate_chars(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max_chars.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests fail loudly by design.
mod tests {
    use super::{truncate_chars, truncate_to_bytes};

    #[test]
    fn truncation_respects_char_boundaries() {
        assert_eq!(truncate_to_bytes("在读证明", 12), "在读证明");
        assert_eq!(truncate_to_bytes("在读证明", 11), "在读…");
        assert_eq!(truncate_to_bytes("在读证明", 7), "在…");
        assert_eq!(truncate_to_bytes("abc", 2), "");
        assert!(truncate_to_bytes(&"x".repeat(600), 512).len() <= 512);
        assert_eq!(truncate_chars("在读证明开具", 6), "在读证明开具");
        assert_eq!(truncate_chars("在读证明开具", 4), "在读证…");
    }
}
