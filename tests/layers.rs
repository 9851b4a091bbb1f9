//! The layering of src/: `src/lib.rs` lists the modules bottom up, between `// layers:` and
//! `// end of layers`, and a module may name (`crate::x`, in `use` lines or inline paths) only
//! modules listed before it. So the module graph has no circles, and an engineer can read the
//! code from the bottom up. Unit tests (`#[cfg(test)] mod tests`, last in a file) and comments
//! are not counted.

use std::collections::BTreeMap;
use std::path::Path;

/// The module names of lib.rs's layer list, bottom up.
fn layer_order(lib: &str) -> Vec<String> {
    let start = lib
        .find("// layers:")
        .expect("src/lib.rs has a `// layers:` list");
    let end = lib[start..]
        .find("// end of layers")
        .expect("the layer list ends with `// end of layers`");
    lib[start..start + end]
        .lines()
        .filter_map(|l| l.trim().strip_prefix("mod "))
        .map(|m| m.trim_end_matches(';').trim().to_string())
        .collect()
}

/// A module's code without its unit tests and comments.
fn code_of(source: &str) -> String {
    let body = match source.find("#[cfg(test)]\nmod tests") {
        Some(i) => &source[..i],
        None => source,
    };
    body.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The first path segments named after `crate::` in `code`, `use crate::{a::{..}, b}` groups
/// included.
fn named(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // Top-level items of the group: split at commas outside nested braces.
            let mut depth = 0;
            let mut item = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        out.push(first_ident(&item));
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                item.push(c);
            }
            out.push(first_ident(&item));
        } else {
            out.push(first_ident(rest));
        }
    }
    out.retain(|m| !m.is_empty());
    out
}

fn first_ident(s: &str) -> String {
    s.trim_start()
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// Every reference from a module to one at its own level or above: "a names b".
fn violations(order: &[String], sources: &BTreeMap<String, String>) -> Vec<String> {
    let rank: BTreeMap<&str, usize> = order
        .iter()
        .enumerate()
        .map(|(i, m)| (m.as_str(), i))
        .collect();
    let mut bad = Vec::new();
    for (module, source) in sources {
        let Some(&mine) = rank.get(module.as_str()) else {
            bad.push(format!("{module} is not in the layer list of src/lib.rs"));
            continue;
        };
        for other in named(&code_of(source)) {
            if let Some(&theirs) = rank.get(other.as_str()) {
                if theirs >= mine && other != *module {
                    bad.push(format!("{module} names {other}, which is not below it"));
                }
            }
        }
    }
    bad.sort();
    bad.dedup();
    bad
}

#[test]
fn no_module_names_one_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let order = layer_order(&std::fs::read_to_string(src.join("lib.rs")).unwrap());
    assert!(order.len() > 10, "the layer list: {order:?}");
    let mut sources = BTreeMap::new();
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        if path.extension().is_some_and(|e| e == "rs") && name != "lib" {
            sources.insert(name, std::fs::read_to_string(&path).unwrap());
        }
    }
    for m in &order {
        assert!(
            sources.contains_key(m),
            "{m} is listed but has no src/{m}.rs"
        );
    }
    let bad = violations(&order, &sources);
    assert!(bad.is_empty(), "layering broken:\n{}", bad.join("\n"));
}

#[test]
fn the_checker_sees_upward_names_in_every_form() {
    let order: Vec<String> = ["low", "mid", "high"].map(String::from).to_vec();
    let case = |module: &str, code: &str| {
        let sources = BTreeMap::from([(module.to_string(), code.to_string())]);
        violations(&order, &sources)
    };
    assert!(case("mid", "use crate::low;\nfn f() { crate::low::g() }").is_empty());
    assert_eq!(
        case("mid", "fn f() { crate::high::g() }"),
        ["mid names high, which is not below it"]
    );
    assert_eq!(
        case("low", "use crate::{mid::{self, X}, high};"),
        [
            "low names high, which is not below it",
            "low names mid, which is not below it"
        ]
    );
    assert!(
        case(
            "low",
            "// see crate::high\n#[cfg(test)]\nmod tests { use crate::high; }"
        )
        .is_empty(),
        "comments and unit tests do not count"
    );
    assert_eq!(
        case("stray", "fn f() {}"),
        ["stray is not in the layer list of src/lib.rs"]
    );
}
