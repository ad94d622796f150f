//! Where an exported file goes in Dropbox. Owns only the destination arithmetic: the DocSpace
//! folder path below its section root mirrored under `EXPORT_ROOT`, or an operator-chosen folder,
//! each component made safe with the same rules as group folder names. No I/O here.

use super::safe::safe_name;
use crate::store::path_key;

/// `EXPORT_ROOT/<folders below the section root>/<title>`. `folders` is what the DocSpace client's
/// `folder_path` returns, starting with the section root ("Rooms", "My documents"), which is not
/// mirrored: a file in room `Finance`, folder `2026` goes to `<root>/Finance/2026/<title>`.
pub fn mirrored(export_root: &str, folders: &[String], title: &str) -> String {
    let mut out = trim_folder(export_root).to_string();
    for folder in folders.iter().skip(1) {
        out.push('/');
        out.push_str(&safe_name(folder));
    }
    out.push('/');
    out.push_str(&safe_title(title));
    out
}

/// `<folder>/<title>` for a manual export into an explicit Dropbox folder (already validated as
/// an absolute path by the API; the CLI passes what the operator typed). The folder's own
/// components are made safe too so that a CLI typo cannot escape upwards or end in a space.
pub fn in_folder(folder: &str, title: &str) -> String {
    let mut out = String::new();
    for component in trim_folder(folder).split('/').filter(|c| !c.is_empty()) {
        out.push('/');
        out.push_str(&safe_name(component));
    }
    out.push('/');
    out.push_str(&safe_title(title));
    out
}

/// The name Dropbox's autorename gives the `n`-th copy of a file: `/a/report (1).docx`,
/// `/a/README (1)`.
pub fn autorenamed(path: &str, n: u32) -> String {
    let (folder, name) = match path.rfind('/') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => ("", path),
    };
    match name.rfind('.').filter(|&i| i > 0) {
        Some(dot) => format!("{folder}/{} ({n}){}", &name[..dot], &name[dot..]),
        None => format!("{folder}/{name} ({n})"),
    }
}

/// The folder part of a Dropbox path (`/a/b/c.txt` → `/a/b`; `/c.txt` → ``).
pub fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(i) => &path[..i],
        None => "",
    }
}

/// Equality of Dropbox paths as Dropbox compares them: case-insensitive (Dropbox is
/// case-preserving, not case-sensitive), and composed and decomposed spellings alike.
pub fn same_path(a: &str, b: &str) -> bool {
    path_key(a) == path_key(b)
}

fn trim_folder(folder: &str) -> &str {
    folder.trim_end_matches('/')
}

/// A file name made safe like any other component, except that when the name has to be
/// shortened the extension survives (`report….docx`, not `report…` without a type).
fn safe_title(title: &str) -> String {
    let safe = safe_name(title);
    let Some((stem, ext)) = split_ext(title) else {
        return safe;
    };
    if safe.ends_with(ext) {
        return safe;
    }
    let safe_ext = safe_name(ext);
    let budget = safe
        .chars()
        .count()
        .saturating_sub(safe_ext.chars().count());
    let stem: String = safe_name(stem).chars().take(budget.max(1)).collect();
    safe_name(&format!("{stem}{safe_ext}"))
}

/// `("report", ".docx")` for `report.docx`; `None` without a usable extension.
fn split_ext(title: &str) -> Option<(&str, &str)> {
    let i = title.rfind('.')?;
    let ext = &title[i..];
    (i > 0 && ext.len() > 1 && ext.len() <= 16 && !ext.contains(' ')).then(|| (&title[..i], ext))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(parts: &[&str]) -> Vec<String> {
        parts.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn mirrors_the_path_below_the_section_root() {
        assert_eq!(
            mirrored(
                "/DocSpace Export",
                &v(&["Rooms", "Finance", "2026"]),
                "Q1.xlsx"
            ),
            "/DocSpace Export/Finance/2026/Q1.xlsx"
        );
        assert_eq!(
            mirrored("/Out/", &v(&["My documents"]), "a.txt"),
            "/Out/a.txt"
        );
    }

    #[test]
    fn components_cannot_escape_or_break_the_path() {
        let p = mirrored("/E", &v(&["Rooms", "..", "a/b", "trail. "]), "x\\y.docx");
        assert!(p.starts_with("/E/"), "{p}");
        let parts: Vec<&str> = p.split('/').collect();
        assert_eq!(parts.len(), 6, "{p}");
        for c in &parts[2..] {
            assert!(!c.is_empty() && *c != "." && *c != "..", "{p}");
            assert!(!c.ends_with(' ') && !c.ends_with('.'), "{p}");
            assert!(!c.contains('\\'), "{p}");
        }
    }

    #[test]
    fn non_ascii_and_emoji_titles_survive() {
        assert_eq!(
            mirrored("/E", &v(&["Rooms", "Финансы"]), "отчёт 📊.docx"),
            "/E/Финансы/отчёт 📊.docx"
        );
    }

    #[test]
    fn long_titles_keep_their_extension() {
        let title = format!("{}.docx", "a".repeat(400));
        let p = in_folder("/X", &title);
        let name = p.rsplit('/').next().unwrap_or_default();
        assert!(name.ends_with(".docx"), "{name}");
        assert!(name.chars().count() <= 255);
    }

    #[test]
    fn manual_folder() {
        assert_eq!(in_folder("/X", "a.txt"), "/X/a.txt");
        assert_eq!(in_folder("/Reports/2026/", "a.txt"), "/Reports/2026/a.txt");
        assert_eq!(parent("/Reports/2026/a.txt"), "/Reports/2026");
        assert_eq!(autorenamed("/R/a.txt", 1), "/R/a (1).txt");
        assert_eq!(autorenamed("/R/a.tar.gz", 2), "/R/a.tar (2).gz");
        assert_eq!(autorenamed("/R/.env", 1), "/R/.env (1)");
        assert!(same_path("/A/b.TXT", "/a/B.txt"));
        assert!(same_path("/Cafe\u{301}/a", "/CAF\u{C9}/A"));
    }
}
