//! The shape of the code and its documentation, checked: a thin binary,
//! no catch-all files, a readers' crate that needs no database, the
//! README's exit-code and record tables in step with the one place each is
//! defined, and the README a front page whose links into docs/ (and the
//! docs' links between themselves) resolve.

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
    // The binary's crate and the readers' crate alike; the readers
    // themselves (formats/) may be longer.
    for src in ["src", "crates/molingest-chem/src"] {
        let mut files = Vec::new();
        rust_files(&root().join(src), &mut files);
        assert!(!files.is_empty(), "no Rust files in {src}");
        for f in files {
            if f.starts_with(root().join(src).join("formats")) {
                continue;
            }
            assert!(lines(&f) <= 550, "{} has more than 550 lines", f.display());
        }
    }
}

/// The readers' crate builds, tests and fuzzes without the database, the
/// async runtime or the object store: none of them is a dependency of it,
/// direct (its manifest) or indirect (`cargo tree` of that crate alone,
/// with the features this test was built with, so nothing is downloaded).
#[test]
fn the_readers_crate_has_no_database_runtime_or_object_store() {
    const FORBIDDEN: [&str; 4] = ["sqlx", "tokio", "object_store", "reqwest"];
    let forbidden = |name: &str| FORBIDDEN.contains(&name.replace('-', "_").as_str());
    let manifest =
        std::fs::read_to_string(root().join("crates/molingest-chem/Cargo.toml")).unwrap();
    let mut table = "";
    let mut direct = 0;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            table = line;
        } else if table.contains("dependencies") && !line.is_empty() && !line.starts_with('#') {
            let name = line.split(['=', '.', ' ']).next().unwrap();
            assert!(
                !forbidden(name),
                "molingest-chem depends on {name} ({table})"
            );
            direct += 1;
        }
    }
    assert!(
        direct > 0,
        "no dependencies read from molingest-chem's manifest"
    );

    let features: Vec<&str> = [
        ("chemfiles", cfg!(feature = "chemfiles")),
        ("inchi", cfg!(feature = "inchi")),
    ]
    .into_iter()
    .filter_map(|(f, on)| on.then_some(f))
    .collect();
    let out = std::process::Command::new(env!("CARGO"))
        .current_dir(root())
        .args(["tree", "--locked", "-p", "molingest-chem", "-e", "normal"])
        .args(["--prefix", "none", "--format", "{p}"])
        .args(["--features", &features.join(",")])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo tree: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8(out.stdout).unwrap();
    let names: Vec<&str> = tree.lines().filter_map(|l| l.split(' ').next()).collect();
    assert!(
        names.contains(&"chematic-smiles"),
        "cargo tree printed {tree}"
    );
    for name in names {
        assert!(
            !forbidden(name),
            "molingest-chem depends on {name}:\n{tree}"
        );
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
