//! The shape of the code and its documentation, checked: a thin binary,
//! no catch-all files, the README's exit-code and record tables in step
//! with the one place each is defined, and the README a front page whose
//! links into docs/ (and the docs' links between themselves) resolve.

mod common;

use common::root;

fn rust_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn lines(p: &std::path::Path) -> usize {
    std::fs::read_to_string(p).unwrap().lines().count()
}

#[test]
fn the_binary_is_thin_and_no_file_is_a_catch_all() {
    assert!(
        lines(&root().join("src/main.rs")) < 300,
        "main.rs < 300 lines"
    );
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    for f in files {
        if f.starts_with(root().join("src/formats")) {
            continue;
        }
        assert!(lines(&f) <= 550, "{} has more than 550 lines", f.display());
    }
}

#[test]
fn readme_documents_every_exit_code_and_record_field() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    for (exit, meaning) in molingest::exit::Exit::TABLE {
        let row = format!("| {} | {meaning} |", exit.code());
        assert!(readme.contains(&row), "README exit table lacks {row:?}");
    }
    for field in molingest::scan::RECORD_FIELDS {
        assert!(
            readme.contains(&format!("| `{field}` |")),
            "README record table lacks `{field}`"
        );
    }
}

#[test]
fn readme_is_a_front_page_and_doc_links_resolve() {
    let readme = root().join("README.md");
    assert!(
        lines(&readme) <= 400,
        "README.md has more than 400 lines: the reference belongs in docs/"
    );
    // The README and docs/*.md; docs/design/ holds a copied document whose
    // links point into the collection it came from, so it is not checked.
    let mut pages = vec![readme];
    for e in std::fs::read_dir(root().join("docs")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "md") {
            pages.push(p);
        }
    }
    for page in pages {
        let text = std::fs::read_to_string(&page).unwrap();
        for (at, _) in text.match_indices("](") {
            let rest = &text[at + 2..];
            let Some(end) = rest.find(')') else {
                continue;
            };
            let target = rest[..end].split('#').next().unwrap_or("");
            // Links to pages only (SMILES such as `[P](F)` are not links).
            if !target.ends_with(".md") || target.contains("://") {
                continue;
            }
            let dir = page.parent().unwrap();
            assert!(
                dir.join(target).is_file(),
                "{} links to {target}, which does not exist",
                page.display()
            );
        }
    }
}
