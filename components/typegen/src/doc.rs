//! A small copy of prettier's document printer (prettier 3's
//! `printDocToString` with `fits`, and `propagateBreaks`): groups print
//! flat when they fit in what is left of the line, else broken. Enough of
//! it to format what postgres-meta's generator emits as prettier does
//! (printWidth 80, two-space indent).

pub const WIDTH: usize = 80;

#[derive(Clone, Debug)]
pub enum Doc {
    Text(String),
    Concat(Vec<Doc>),
    /// `brk`: broken whatever the width (explicitly, or a hard line or a
    /// broken group inside, as prettier's `propagateBreaks`).
    Group(Box<Doc>, bool),
    Indent(Box<Doc>),
    Align(usize, Box<Doc>),
    /// A space when flat, a newline when broken.
    Line,
    /// Nothing when flat, a newline when broken.
    Softline,
    /// Always a newline.
    Hardline,
    /// (broken, flat)
    IfBreak(Box<Doc>, Box<Doc>),
}

pub fn text(s: impl Into<String>) -> Doc {
    Doc::Text(s.into())
}

pub fn concat(parts: Vec<Doc>) -> Doc {
    Doc::Concat(parts)
}

pub fn indent(d: Doc) -> Doc {
    Doc::Indent(Box::new(d))
}

pub fn align(n: usize, d: Doc) -> Doc {
    Doc::Align(n, Box::new(d))
}

pub fn if_break(broken: Doc, flat: Doc) -> Doc {
    Doc::IfBreak(Box::new(broken), Box::new(flat))
}

pub fn group(d: Doc) -> Doc {
    group_with(d, false)
}

pub fn group_with(d: Doc, should_break: bool) -> Doc {
    let brk = should_break || breaks(&d);
    Doc::Group(Box::new(d), brk)
}

pub fn join(sep: Doc, items: Vec<Doc>) -> Doc {
    let mut out = Vec::with_capacity(items.len() * 2);
    for (i, d) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(sep.clone());
        }
        out.push(d);
    }
    Doc::Concat(out)
}

/// Whether `d` holds a hard line or a broken group (which breaks every
/// enclosing group).
fn breaks(d: &Doc) -> bool {
    match d {
        Doc::Hardline => true,
        Doc::Group(_, brk) => *brk,
        Doc::Concat(v) => v.iter().any(breaks),
        Doc::Indent(d) | Doc::Align(_, d) => breaks(d),
        Doc::IfBreak(b, f) => breaks(b) || breaks(f),
        _ => false,
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Break,
    Flat,
}

fn width(s: &str) -> usize {
    s.chars().count()
}

/// Whether `next` fits in `room` columns, followed by the rest of the
/// commands up to their first line break (prettier's `fits`).
fn fits(next: (usize, Mode, &Doc), rest: &[(usize, Mode, &Doc)], room: usize) -> bool {
    let mut room = room as isize;
    let mut rest_idx = rest.len();
    let mut cmds: Vec<(Mode, &Doc)> = vec![(next.1, next.2)];
    while room >= 0 {
        let Some((mode, doc)) = cmds.pop() else {
            if rest_idx == 0 {
                return true;
            }
            rest_idx -= 1;
            cmds.push((rest[rest_idx].1, rest[rest_idx].2));
            continue;
        };
        match doc {
            Doc::Text(s) => room -= width(s) as isize,
            Doc::Concat(v) => {
                for d in v.iter().rev() {
                    cmds.push((mode, d));
                }
            }
            Doc::Indent(d) | Doc::Align(_, d) => cmds.push((mode, d)),
            Doc::Group(d, brk) => cmds.push((if *brk { Mode::Break } else { mode }, d)),
            Doc::IfBreak(b, f) => cmds.push((mode, if mode == Mode::Break { b } else { f })),
            Doc::Line => {
                if mode == Mode::Break {
                    return true;
                }
                room -= 1;
            }
            Doc::Softline => {
                if mode == Mode::Break {
                    return true;
                }
            }
            Doc::Hardline => return true,
        }
    }
    false
}

/// `[a, b]`, or one item per line with a trailing comma when it does not
/// fit (prettier's arrays and tuples).
pub fn bracketed(items: Vec<Doc>) -> Doc {
    if items.is_empty() {
        return text("[]");
    }
    group(concat(vec![
        text("["),
        indent(concat(vec![Doc::Softline, join(concat(vec![text(","), Doc::Line]), items)])),
        if_break(text(","), text("")),
        Doc::Softline,
        text("]"),
    ]))
}

/// Prints `doc` as prettier would.
pub fn print(doc: &Doc) -> String {
    let mut out = String::new();
    let mut pos = 0usize;
    let mut cmds: Vec<(usize, Mode, &Doc)> = vec![(0, Mode::Break, doc)];
    while let Some((ind, mode, doc)) = cmds.pop() {
        match doc {
            Doc::Text(s) => {
                out.push_str(s);
                pos += width(s);
            }
            Doc::Concat(v) => {
                for d in v.iter().rev() {
                    cmds.push((ind, mode, d));
                }
            }
            Doc::Indent(d) => cmds.push((ind + 2, mode, d)),
            Doc::Align(n, d) => cmds.push((ind + n, mode, d)),
            Doc::Group(d, brk) => match mode {
                Mode::Flat => cmds.push((ind, if *brk { Mode::Break } else { Mode::Flat }, d)),
                Mode::Break => {
                    let flat = (ind, Mode::Flat, &**d);
                    if !*brk && fits(flat, &cmds, WIDTH.saturating_sub(pos)) {
                        cmds.push(flat);
                    } else {
                        cmds.push((ind, Mode::Break, d));
                    }
                }
            },
            Doc::IfBreak(b, f) => cmds.push((ind, mode, if mode == Mode::Break { b } else { f })),
            Doc::Line | Doc::Softline | Doc::Hardline => {
                let hard = matches!(doc, Doc::Hardline);
                if mode == Mode::Flat && !hard {
                    if matches!(doc, Doc::Line) {
                        out.push(' ');
                        pos += 1;
                    }
                } else {
                    let trimmed = out.trim_end_matches([' ', '\t']).len();
                    out.truncate(trimmed);
                    out.push('\n');
                    out.extend(std::iter::repeat_n(' ', ind));
                    pos = ind;
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_breaks_only_when_it_does_not_fit() {
        let g = |n: usize| {
            group(concat(vec![
                text("{"),
                indent(concat(vec![Doc::Line, text("a".repeat(n))])),
                Doc::Line,
                text("}"),
            ]))
        };
        assert_eq!(print(&g(3)), "{ aaa }");
        assert_eq!(print(&g(79)), format!("{{\n  {}\n}}", "a".repeat(79)));
    }

    #[test]
    fn a_hard_line_breaks_the_enclosing_groups() {
        let d = group(concat(vec![
            text("["),
            indent(concat(vec![
                Doc::Softline,
                group(concat(vec![text("x"), Doc::Hardline, text("y")])),
            ])),
            Doc::Softline,
            text("]"),
        ]));
        assert_eq!(print(&d), "[\n  x\n  y\n]");
    }
}
