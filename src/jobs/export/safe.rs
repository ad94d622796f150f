//! Path components of exported files, made safe with the group-folder rules
//! (`jobs::groups::safe_name`), so that there is one set of naming rules in the bridge.
//!
//! One deliberate difference: the group rules drop emoji (and the joiners and variation
//! selectors that build them), while exported titles must arrive in Dropbox intact. Emoji
//! sequences are therefore swapped for private-use placeholders before the rules run and put
//! back afterwards; everything else (separators, reserved names, trailing dots and spaces,
//! length) is exactly the group rules.

use crate::jobs::groups::safe_name as rules;

/// Fallback id handed to the group rules; their "nothing usable left" answer is recognised by it.
const NO_ID: &str = "-";

/// Start of Supplementary Private Use Area-A: never produced by DocSpace titles in practice, and
/// left alone by the group rules.
const PLACEHOLDER_BASE: u32 = 0xF_0000;

/// `name` as one Dropbox path component (never empty, `.` or `..`; no `/` or `\`).
pub fn safe_name(name: &str) -> String {
    let mut kept: Vec<char> = Vec::new();
    let protected: String = name
        .chars()
        .map(|c| {
            if is_emoji_part(c) {
                let p = char::from_u32(PLACEHOLDER_BASE + kept.len() as u32).unwrap_or('_');
                kept.push(c);
                p
            } else {
                c
            }
        })
        .collect();
    let cleaned = rules::safe_name(&protected, NO_ID);
    if cleaned == rules::safe_name("", NO_ID) {
        return "_".to_string();
    }
    cleaned
        .chars()
        .map(|c| {
            let i = (c as u32).wrapping_sub(PLACEHOLDER_BASE) as usize;
            match kept.get(i) {
                Some(original) if (c as u32) >= PLACEHOLDER_BASE => *original,
                _ => c,
            }
        })
        .collect()
}

/// Pictographs, and the invisible characters that join or style them into one emoji.
fn is_emoji_part(c: char) -> bool {
    matches!(c,
        '\u{1F000}'..='\u{1FAFF}' | '\u{2600}'..='\u{27BF}' | '\u{2B00}'..='\u{2BFF}'
        | '\u{20E3}' | '\u{200D}' | '\u{FE0F}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emoji_and_non_ascii_survive() {
        assert_eq!(safe_name("отчёт 📊.docx"), "отчёт 📊.docx");
        assert_eq!(safe_name("👩‍👩‍👧 family.txt"), "👩‍👩‍👧 family.txt");
        assert_eq!(safe_name("🚀"), "🚀");
    }

    #[test]
    fn group_rules_apply() {
        assert_eq!(safe_name("a/b"), "a_b");
        assert_eq!(safe_name("name. "), "name");
        assert_eq!(safe_name(".."), "_");
        assert_eq!(safe_name(""), "_");
        assert_eq!(safe_name("con"), "con_");
    }
}
