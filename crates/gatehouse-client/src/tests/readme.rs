//! The README's Python and JavaScript blocks are verbatim parts of the example files that the
//! live test runs, so what the docs show is what was tested.

const README: &str = include_str!("../../README.md");

/// The bodies of the README's fenced blocks in `lang`.
fn blocks(lang: &str) -> Vec<&'static str> {
    let fence = format!("```{lang}\n");
    README
        .split(fence.as_str())
        .skip(1)
        .map(|rest| rest.split("```").next().unwrap_or_default())
        .collect()
}

#[test]
fn readme_excerpts_are_the_tested_example_files() {
    let files = [
        (
            "python",
            "verify.py",
            include_str!("../../examples-other/verify.py"),
        ),
        (
            "js",
            "verify.mjs",
            include_str!("../../examples-other/verify.mjs"),
        ),
    ];
    for (lang, name, source) in files {
        let excerpts = blocks(lang);
        assert!(!excerpts.is_empty(), "the README shows no {lang} block");
        for excerpt in excerpts {
            assert!(
                source.contains(excerpt),
                "this README {lang} block is not in examples-other/{name}:\n{excerpt}"
            );
        }
    }
}
