//! The `condition` expression of a Sigma detection.

/// A parsed condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    /// All must hold.
    And(Vec<Cond>),
    /// One must hold.
    Or(Vec<Cond>),
    /// Must not hold.
    Not(Box<Cond>),
    /// A named selection.
    Sel(String),
    /// `1 of PATTERN` (`None`: `1 of them`).
    OneOf(Option<String>),
    /// `all of PATTERN` (`None`: `all of them`).
    AllOf(Option<String>),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Open,
    Close,
    Word(String),
}

fn tokens(text: &str) -> Vec<Tok> {
    let mut out = Vec::new();
    let mut word = String::new();
    for c in text.chars() {
        match c {
            '(' | ')' => {
                if !word.is_empty() {
                    out.push(Tok::Word(std::mem::take(&mut word)));
                }
                out.push(if c == '(' { Tok::Open } else { Tok::Close });
            }
            c if c.is_whitespace() => {
                if !word.is_empty() {
                    out.push(Tok::Word(std::mem::take(&mut word)));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        out.push(Tok::Word(word));
    }
    out
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    depth: usize,
}

/// Deeper conditions are refused rather than risk the stack.
const MAX_DEPTH: usize = 64;

impl Parser {
    fn peek_word(&self) -> Option<String> {
        match self.toks.get(self.pos) {
            Some(Tok::Word(w)) => Some(w.to_ascii_lowercase()),
            _ => None,
        }
    }

    fn or(&mut self) -> Result<Cond, String> {
        let mut items = vec![self.and()?];
        while self.peek_word().as_deref() == Some("or") {
            self.pos += 1;
            items.push(self.and()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Cond::Or(items)
        })
    }

    fn and(&mut self) -> Result<Cond, String> {
        let mut items = vec![self.not()?];
        while self.peek_word().as_deref() == Some("and") {
            self.pos += 1;
            items.push(self.not()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Cond::And(items)
        })
    }

    fn not(&mut self) -> Result<Cond, String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(format!(
                "the condition is nested more than {MAX_DEPTH} deep"
            ));
        }
        let c = if self.peek_word().as_deref() == Some("not") {
            self.pos += 1;
            self.not().map(|c| Cond::Not(Box::new(c)))
        } else {
            self.primary()
        };
        self.depth -= 1;
        c
    }

    fn primary(&mut self) -> Result<Cond, String> {
        match self.toks.get(self.pos).cloned() {
            Some(Tok::Open) => {
                self.pos += 1;
                let inner = self.or()?;
                if self.toks.get(self.pos) != Some(&Tok::Close) {
                    return Err("a `(` is not closed".into());
                }
                self.pos += 1;
                Ok(inner)
            }
            Some(Tok::Close) => Err("unexpected `)`".into()),
            Some(Tok::Word(w)) => {
                let lw = w.to_ascii_lowercase();
                if matches!(lw.as_str(), "and" | "or") {
                    return Err(format!("`{w}` without a left-hand side"));
                }
                if w.starts_with('|') || w == "|" {
                    return Err("aggregation expressions (`| count() …`) are deprecated; use a correlation rule".into());
                }
                let quantifier = match lw.as_str() {
                    "1" | "any" => Some(true),
                    "all" => Some(false),
                    _ => None,
                };
                if let Some(one) = quantifier
                    && matches!(self.toks.get(self.pos + 1), Some(Tok::Word(o)) if o.eq_ignore_ascii_case("of"))
                {
                    let target = match self.toks.get(self.pos + 2) {
                        Some(Tok::Word(t)) => t.clone(),
                        _ => return Err(format!("`{w} of` needs a name pattern or `them`")),
                    };
                    self.pos += 3;
                    let pat = (!target.eq_ignore_ascii_case("them")).then_some(target);
                    return Ok(if one {
                        Cond::OneOf(pat)
                    } else {
                        Cond::AllOf(pat)
                    });
                }
                self.pos += 1;
                Ok(Cond::Sel(w))
            }
            None => Err("the condition ends too early".into()),
        }
    }
}

/// Parses a condition.
pub fn parse(text: &str) -> Result<Cond, String> {
    if text.contains('|') {
        return Err(
            "aggregation expressions (`| count() …`) are deprecated; use a correlation rule".into(),
        );
    }
    let mut p = Parser {
        toks: tokens(text),
        pos: 0,
        depth: 0,
    };
    let c = p.or()?;
    if p.pos != p.toks.len() {
        return Err(format!(
            "unexpected text after position {} in `{text}`",
            p.pos
        ));
    }
    Ok(c)
}

/// Whether `name` matches a `1 of`/`all of` pattern (only `*` is special).
pub fn name_matches(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((pre, rest)) => {
            if !name.starts_with(pre) {
                return false;
            }
            let tail = &name[pre.len()..];
            if rest.is_empty() {
                return true;
            }
            (0..=tail.len()).any(|i| tail.is_char_boundary(i) && name_matches(rest, &tail[i..]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(n: &str) -> Cond {
        Cond::Sel(n.into())
    }

    #[test]
    fn precedence_and_parentheses() {
        assert_eq!(
            parse("a or b and not c").unwrap(),
            Cond::Or(vec![
                s("a"),
                Cond::And(vec![s("b"), Cond::Not(Box::new(s("c")))])
            ])
        );
        assert_eq!(
            parse("(a or b) and c").unwrap(),
            Cond::And(vec![Cond::Or(vec![s("a"), s("b")]), s("c")])
        );
        assert_eq!(
            parse("selection and not 1 of filter_*").unwrap(),
            Cond::And(vec![
                s("selection"),
                Cond::Not(Box::new(Cond::OneOf(Some("filter_*".into()))))
            ])
        );
        assert_eq!(parse("all of them").unwrap(), Cond::AllOf(None));
        assert_eq!(parse("1 of them").unwrap(), Cond::OneOf(None));
        assert_eq!(
            parse("all of sel*").unwrap(),
            Cond::AllOf(Some("sel*".into()))
        );
        assert_eq!(parse("not (a)").unwrap(), Cond::Not(Box::new(s("a"))));
    }

    #[test]
    fn errors() {
        assert!(parse("(a or b").is_err());
        assert!(parse("a and").is_err());
        assert!(parse("selection | count() > 5").is_err());
        assert!(parse("a b").is_err());
        // Hostile nesting is refused, not a stack overflow.
        assert!(parse(&format!("{}a{}", "(".repeat(100_000), ")".repeat(100_000))).is_err());
        assert!(parse(&"not ".repeat(100_000)).is_err());
        assert!(parse(&format!("{}a{}", "(".repeat(30), ")".repeat(30))).is_ok());
    }

    #[test]
    fn name_patterns() {
        assert!(name_matches("sel*", "selection_1"));
        assert!(name_matches("*_cmd", "sel_cmd"));
        assert!(name_matches("a*b*c", "axxbyyc"));
        assert!(!name_matches("sel*", "filter"));
    }
}
