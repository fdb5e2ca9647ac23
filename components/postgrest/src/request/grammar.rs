//! PostgREST's query-string grammar: `select`, horizontal filters, logic
//! trees (`or=(...)`), `order`. Parsing never panics: malformed input is a
//! PGRST100 error naming what could not be parsed.

use crate::error::{haskell_show, ApiError};

/// `->` returns json, `->>` returns text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arrow {
    Json,
    Text,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonKey {
    Key(String),
    Index(i64),
}

/// A column, optionally followed by a JSON path: `data->a->>b`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    pub path: Vec<(Arrow, JsonKey)>,
    /// The column is not json/jsonb (an array, a composite): its path is
    /// taken on `to_jsonb(column)`, as PostgREST does (set by the planner
    /// from the schema cache).
    pub to_jsonb: bool,
    /// A data representation (PostgREST's implicit casts to and from a
    /// domain), as the SQL name of its cast function: in a select list the
    /// column's domain → json cast, in a filter the text → domain cast its
    /// values go through (set by the planner from the schema cache).
    pub rep: Option<String>,
    /// A computed column: `function(row)` (the function's and the row
    /// type's SQL names) instead of a column (set by the planner).
    pub computed: Option<(String, String)>,
}

impl Field {
    /// A column with no path or planner marks.
    pub fn plain(name: &str) -> Field {
        Field {
            name: name.to_string(),
            path: Vec::new(),
            to_jsonb: false,
            rep: None,
            computed: None,
        }
    }

    /// The name PostgREST gives the output column: the last JSON key, or
    /// the column name.
    pub fn default_alias(&self) -> String {
        // `data->0->a->>2` is `a`: the last key that is not an index.
        self.path
            .iter()
            .rev()
            .find_map(|(_, k)| match k {
                JsonKey::Key(k) => Some(k.clone()),
                JsonKey::Index(_) => None,
            })
            .unwrap_or_else(|| self.name.clone())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SelectItem {
    /// `*`
    Star,
    /// `alias:field::cast`, or with an aggregate
    /// `alias:field::cast.sum()::cast` (`count()` has the field `*`).
    Column {
        field: Field,
        alias: Option<String>,
        cast: Option<String>,
        aggregate: Option<Aggregate>,
    },
    /// `alias:relation!hint!inner(...)` or `...relation(...)`.
    Embed {
        relation: String,
        alias: Option<String>,
        hints: Vec<String>,
        spread: bool,
        items: Vec<SelectItem>,
    },
}

/// An aggregate function applied to a selected column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aggregate {
    pub function: AggregateFn,
    /// `::type` after the call: the result's cast.
    pub cast: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggregateFn {
    Count,
    Sum,
    Avg,
    Max,
    Min,
}

impl AggregateFn {
    /// The function's name (also the key it answers under without an alias).
    pub fn name(self) -> &'static str {
        match self {
            AggregateFn::Count => "count",
            AggregateFn::Sum => "sum",
            AggregateFn::Avg => "avg",
            AggregateFn::Max => "max",
            AggregateFn::Min => "min",
        }
    }
}

impl SelectItem {
    /// The key a selected column answers under: its alias, an aggregate's
    /// function name, or the column's (last JSON key's) name.
    pub fn output_name(&self) -> Option<String> {
        match self {
            SelectItem::Column { alias: Some(a), .. } => Some(a.clone()),
            SelectItem::Column {
                aggregate: Some(a), ..
            } => Some(a.function.name().to_string()),
            SelectItem::Column { field, .. } => Some(field.default_alias()),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantifier {
    Any,
    All,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FtsKind {
    Fts,
    Plain,
    Phrase,
    Web,
}

impl FtsKind {
    pub fn function(self) -> &'static str {
        match self {
            FtsKind::Fts => "to_tsquery",
            FtsKind::Plain => "plainto_tsquery",
            FtsKind::Phrase => "phraseto_tsquery",
            FtsKind::Web => "websearch_to_tsquery",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IsValue {
    Null,
    NotNull,
    True,
    False,
    Unknown,
}

/// The right-hand side of a filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    /// A binary operator (`=`, `LIKE`, `@>`, ...) with a value.
    Compare {
        op: &'static str,
        quantifier: Option<Quantifier>,
        value: String,
    },
    /// `in.(a,b,"c,d")`
    In(Vec<String>),
    /// `is.null`, `is.true`, ...
    Is(IsValue),
    /// `fts(english).word`
    Fts {
        kind: FtsKind,
        language: Option<String>,
        value: String,
        /// The column is json/jsonb: searched as `to_tsvector(column)`, as
        /// PostgREST does (set by the planner from the schema cache).
        on_json: bool,
    },
}

impl Logic {
    /// Every filter in this tree, mutably.
    pub fn filters_mut(&mut self) -> Vec<&mut Filter> {
        match self {
            Logic::Filter(f) => vec![f],
            Logic::Tree { children, .. } => {
                children.iter_mut().flat_map(Logic::filters_mut).collect()
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub field: Field,
    pub negated: bool,
    pub operation: Operation,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Logic {
    Filter(Filter),
    /// `and(...)` / `or(...)`, possibly negated.
    Tree {
        or: bool,
        negated: bool,
        children: Vec<Logic>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nulls {
    First,
    Last,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderTerm {
    /// `order=rel(col)`: a column of a to-one embedded resource.
    pub relation: Option<String>,
    pub field: Field,
    pub descending: Option<bool>,
    pub nulls: Option<Nulls>,
}

/// Maps PostgREST operator names to SQL operators.
fn binary_operator(name: &str) -> Option<&'static str> {
    Some(match name {
        "eq" => "=",
        "neq" => "<>",
        "gt" => ">",
        "gte" => ">=",
        "lt" => "<",
        "lte" => "<=",
        "like" => "LIKE",
        "ilike" => "ILIKE",
        "match" => "~",
        "imatch" => "~*",
        "cs" => "@>",
        "cd" => "<@",
        "ov" => "&&",
        "sl" => "<<",
        "sr" => ">>",
        "nxr" => "&<",
        "nxl" => "&>",
        "adj" => "-|-",
        "isdistinct" => "IS DISTINCT FROM",
        _ => return None,
    })
}

fn quantifiable(name: &str) -> bool {
    matches!(
        name,
        "eq" | "neq" | "gt" | "gte" | "lt" | "lte" | "like" | "ilike" | "match" | "imatch"
    )
}

/// A cursor over the input with PostgREST-style error reporting.
struct Cursor<'a> {
    src: &'a str,
    pos: usize,
    what: &'static str,
    /// What PostgREST parses before `src` (a logic tree's `or`/`not.and`):
    /// error columns count it.
    prefix: &'static str,
    /// Nesting of embeds / logic trees so far (bounded: no stack exhaustion).
    depth: usize,
}

/// Deepest nesting of embedded resources or logic trees accepted.
pub const MAX_DEPTH: usize = 32;

/// Longest JSON path (`a->b->>c` has 2 keys) in `select`, filters and `order`.
/// Deep paths cost the database stack per key; no real document needs more.
pub const MAX_JSON_PATH: usize = 32;

/// Deepest group nesting in a `match`/`imatch` pattern and most operators in
/// an `fts` query: PostgreSQL's regex compiler and tsquery parser recurse on
/// them, so a hostile value must be refused before it reaches the database.
pub const MAX_PATTERN_NESTING: usize = 32;
pub const MAX_FTS_OPERATORS: usize = 256;

/// A `(…)`-group nesting deeper than allowed, or too many tsquery operators:
/// the PGRST100 error for a hostile operand.
fn check_operand(op: &str, value: &str) -> Result<(), ApiError> {
    let too_complex = |details: String| {
        Err(ApiError::parse(
            format!("failed to parse filter ({op}.…)"),
            details,
        ))
    };
    match op {
        "match" | "imatch" => {
            let (mut depth, mut deepest, mut escaped) = (0usize, 0usize, false);
            for ch in value.chars() {
                match ch {
                    _ if escaped => escaped = false,
                    '\\' => escaped = true,
                    '(' => {
                        depth += 1;
                        deepest = deepest.max(depth);
                    }
                    ')' => depth = depth.saturating_sub(1),
                    _ => {}
                }
            }
            if deepest > MAX_PATTERN_NESTING {
                return too_complex(format!(
                    "the pattern nests groups {deepest} deep; at most {MAX_PATTERN_NESTING} are allowed"
                ));
            }
        }
        "fts" | "plfts" | "phfts" | "wfts" => {
            // Every word or operator is a node of the tsquery tree.
            let nodes = value
                .split(|c: char| c.is_whitespace() || "&|!<>()".contains(c))
                .filter(|w| !w.is_empty())
                .count()
                + value.matches(|c: char| "&|!<(".contains(c)).count();
            if nodes > MAX_FTS_OPERATORS {
                return too_complex(format!(
                    "the search query has {nodes} terms and operators; at most {MAX_FTS_OPERATORS} are allowed"
                ));
            }
        }
        _ => {}
    }
    Ok(())
}

impl<'a> Cursor<'a> {
    fn new(src: &'a str, what: &'static str) -> Self {
        Cursor {
            src,
            pos: 0,
            what,
            prefix: "",
            depth: 0,
        }
    }
    fn rest(&self) -> &'a str {
        &self.src[self.pos..]
    }
    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }
    fn eat(&mut self, s: &str) -> bool {
        if self.rest().starts_with(s) {
            self.pos += s.len();
            true
        } else {
            false
        }
    }
    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }
    fn done(&self) -> bool {
        self.pos >= self.src.len()
    }
    fn error(&self, expected: &str) -> ApiError {
        let found = match self.peek() {
            Some(c) => format!(
                "unexpected {}",
                haskell_show(c.encode_utf8(&mut [0; 4]), '"')
            ),
            None => "unexpected end of input".to_string(),
        };
        self.fail(format!("{found} expecting {expected}"))
    }
    /// An error at the current position with these details, its message
    /// as PostgREST's (the source name and the line and column).
    fn fail(&self, details: String) -> ApiError {
        ApiError::parse_at(
            &format!("failed to parse {} ({})", self.what, self.src),
            &format!("{}{}", self.prefix, self.src),
            self.prefix.len() + self.pos,
            details,
        )
    }

    /// A double-quoted string with backslash escapes.
    fn quoted(&mut self) -> Result<String, ApiError> {
        let mut out = String::new();
        loop {
            match self.bump() {
                None => return Err(self.error("closing quote")),
                Some('"') => return Ok(out),
                Some('\\') => match self.bump() {
                    Some(c) => out.push(c),
                    None => return Err(self.error("escaped character")),
                },
                Some(c) => out.push(c),
            }
        }
    }

    /// A field name: quoted, or letters/digits/`_`/`$`/space with inner dashes.
    fn name(&mut self) -> Result<String, ApiError> {
        if self.eat("\"") {
            return self.quoted();
        }
        let start = self.pos;
        while let Some(c) = self.peek() {
            let ok = c.is_alphanumeric() || c == '_' || c == '$' || c == ' ';
            let inner_dash = c == '-' && !self.rest().starts_with("->") && self.pos > start;
            if ok || inner_dash {
                self.bump();
            } else {
                break;
            }
        }
        let name = self.src[start..self.pos].trim();
        if name.is_empty() || name.ends_with('-') {
            self.pos = start;
            return Err(self.error("field name (* or [a..z0..9_$])"));
        }
        Ok(name.to_string())
    }

    /// `name` followed by `->key` / `->>key` segments.
    fn field(&mut self) -> Result<Field, ApiError> {
        let name = self.name()?;
        let mut path = Vec::new();
        loop {
            let arrow = if self.eat("->>") {
                Arrow::Text
            } else if self.eat("->") {
                Arrow::Json
            } else {
                break;
            };
            let start = self.pos;
            let neg = self.eat("-");
            while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                self.bump();
            }
            if neg && self.pos == start + 1 {
                // `->-` starts a negative index: a digit must follow.
                return Err(self.error("digit"));
            }
            let digits = &self.src[start..self.pos];
            // Digits are an index only where the step ends (`->`, `::`,
            // `.`, `,`, `)` or the end): `23-xy-45` is a key, as in PostgREST.
            let rest = self.rest();
            let is_index = self.pos > start + neg as usize
                && (rest.is_empty()
                    || ["->", "::", ".", ",", ")"]
                        .iter()
                        .any(|e| rest.starts_with(e)));
            let key = if is_index {
                JsonKey::Index(digits.parse().map_err(|_| self.error("json index"))?)
            } else {
                self.pos = start;
                JsonKey::Key(self.json_key()?)
            };
            path.push((arrow, key));
            if path.len() > MAX_JSON_PATH {
                return Err(ApiError::parse(
                    format!("failed to parse {} ({name}->…)", self.what),
                    format!("a JSON path of more than {MAX_JSON_PATH} keys"),
                ));
            }
        }
        Ok(Field {
            name,
            path,
            to_jsonb: false,
            rep: None,
            computed: None,
        })
    }

    /// A JSON key: any characters but `.,>()` (a `-` not starting it and
    /// not starting `->`), up to `->`, `::` or the end, as PostgREST.
    fn json_key(&mut self) -> Result<String, ApiError> {
        let start = self.pos;
        while let Some(c) = self.peek() {
            let rest = &self.src[self.pos..];
            if matches!(c, '.' | ',' | '>' | '(' | ')')
                || rest.starts_with("->")
                || rest.starts_with("::")
                || (c == '-' && self.pos == start)
                || c.is_whitespace()
            {
                break;
            }
            self.bump();
        }
        if self.pos == start {
            return Err(
                self.error("\"-\", digit or any non reserved character different from: .,>()")
            );
        }
        Ok(self.src[start..self.pos].to_string())
    }

    fn cast(&mut self) -> Result<Option<String>, ApiError> {
        if !self.eat("::") {
            return Ok(None);
        }
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            self.bump();
        }
        if self.pos == start {
            return Err(self.error("cast type"));
        }
        // An array type: `::int[]`.
        let _ = self.eat("[]");
        Ok(Some(self.src[start..self.pos].to_string()))
    }
}

/// Parses the `select` parameter.
pub fn parse_select(src: &str) -> Result<Vec<SelectItem>, ApiError> {
    let mut c = Cursor::new(src, "select parameter");
    if src.trim().is_empty() {
        return Ok(vec![SelectItem::Star]);
    }
    let items = select_list(&mut c)?;
    // After an embed's closing parenthesis PostgREST's parser stops where
    // the list stops (`rel(a))` reads as `rel(a)`); after a column, no.
    if !c.done() && !matches!(items.last(), Some(SelectItem::Embed { .. })) {
        return Err(c.error("\",\" or end of input"));
    }
    Ok(items)
}

fn select_list(c: &mut Cursor) -> Result<Vec<SelectItem>, ApiError> {
    let mut items = Vec::new();
    loop {
        items.push(select_item(c)?);
        if !c.eat(",") {
            return Ok(items);
        }
    }
}

fn select_item(c: &mut Cursor) -> Result<SelectItem, ApiError> {
    if c.eat("*") {
        return Ok(SelectItem::Star);
    }
    let spread = c.eat("...");
    let start = c.pos;
    let first = c.name()?;
    let alias = if c.rest().starts_with(':') && !c.rest().starts_with("::") {
        c.eat(":");
        Some(first)
    } else {
        c.pos = start;
        None
    };
    // `count()`: the rows counted (PostgREST's `COUNT(*)`).
    if c.rest().starts_with("count()") {
        c.eat("count()");
        let cast = c.cast()?;
        return Ok(SelectItem::Column {
            field: Field::plain("*"),
            alias,
            cast: None,
            aggregate: Some(Aggregate {
                function: AggregateFn::Count,
                cast,
            }),
        });
    }
    let field = c.field()?;
    // Embedding: relation(...) possibly with !hints.
    if field.path.is_empty() && (c.peek() == Some('(') || c.peek() == Some('!')) {
        let mut hints = Vec::new();
        while c.eat("!") {
            hints.push(c.name()?);
        }
        if !c.eat("(") {
            return Err(c.error("\"(\""));
        }
        let items = if c.eat(")") {
            Vec::new()
        } else {
            c.depth += 1;
            if c.depth > MAX_DEPTH {
                return Err(c.error("less deeply nested embedding"));
            }
            let items = select_list(c)?;
            c.depth -= 1;
            if !c.eat(")") {
                return Err(c.error("\")\""));
            }
            items
        };
        return Ok(SelectItem::Embed {
            relation: field.name,
            alias,
            hints,
            spread,
            items,
        });
    }
    if spread {
        return Err(c.error("\"(\" after a spread relation"));
    }
    let cast = c.cast()?;
    // `.sum()` etc. after the column (and its input cast), then the
    // result's cast.
    let function = [
        AggregateFn::Count,
        AggregateFn::Sum,
        AggregateFn::Avg,
        AggregateFn::Max,
        AggregateFn::Min,
    ]
    .into_iter()
    .find(|f| {
        c.rest()
            .strip_prefix('.')
            .and_then(|r| r.strip_prefix(f.name()))
            .is_some_and(|r| r.starts_with("()"))
    });
    let aggregate = match function {
        Some(function) => {
            c.eat(".");
            c.eat(function.name());
            c.eat("()");
            Some(Aggregate {
                function,
                cast: c.cast()?,
            })
        }
        None => None,
    };
    Ok(SelectItem::Column {
        field,
        alias,
        cast,
        aggregate,
    })
}

/// Parses a filter's value side (`eq.5`, `not.in.(1,2)`, `fts(english).cat`)
/// for `field`. `src` is the whole `key=value` pair for error messages.
pub fn parse_filter(field: Field, value: &str) -> Result<Filter, ApiError> {
    let mut c = Cursor::new(value, "filter");
    let f = filter_rhs(&mut c, field, &mut |c| Ok(c.rest().to_string()))?;
    Ok(f)
}

/// Parses a column name with an optional JSON path (a filter's key).
pub fn parse_field(src: &str) -> Result<Field, ApiError> {
    let mut c = Cursor::new(src, "filter");
    let f = c.field()?;
    if !c.done() {
        return Err(c.error("end of field name"));
    }
    Ok(f)
}

/// `[not.]op[(modifier)].value`; `value` reads the operand (the rest of the
/// input at the top level, up to `,`/`)` inside logic trees).
fn filter_rhs(
    c: &mut Cursor,
    field: Field,
    value: &mut dyn FnMut(&mut Cursor) -> Result<String, ApiError>,
) -> Result<Filter, ApiError> {
    let negated = c.eat("not.");
    let start = c.pos;
    while c.peek().is_some_and(|ch| ch.is_ascii_alphabetic()) {
        c.bump();
    }
    let op = c.src[start..c.pos].to_string();
    let operation = match op.as_str() {
        "in" => {
            if !c.eat(".") || !c.eat("(") {
                return Err(c.error("\".(\" after in"));
            }
            let list = in_list(c)?;
            Operation::In(list)
        }
        "is" => {
            if !c.eat(".") {
                return Err(c.error("\".\""));
            }
            let v = value(c)?;
            let is = match v.to_ascii_lowercase().as_str() {
                "null" => IsValue::Null,
                "not_null" => IsValue::NotNull,
                "true" => IsValue::True,
                "false" => IsValue::False,
                "unknown" => IsValue::Unknown,
                _ => return Err(c.error("null or not_null or true or false or unknown")),
            };
            Operation::Is(is)
        }
        "fts" | "plfts" | "phfts" | "wfts" => {
            let kind = match op.as_str() {
                "fts" => FtsKind::Fts,
                "plfts" => FtsKind::Plain,
                "phfts" => FtsKind::Phrase,
                _ => FtsKind::Web,
            };
            let language = if c.eat("(") {
                let s = c.pos;
                while c.peek().is_some_and(|ch| ch.is_alphanumeric() || ch == '_') {
                    c.bump();
                }
                let lang = c.src[s..c.pos].to_string();
                if lang.is_empty() || !c.eat(")") {
                    return Err(c.error("language in parentheses"));
                }
                Some(lang)
            } else {
                None
            };
            if !c.eat(".") {
                return Err(c.error("\".\""));
            }
            let value = value(c)?;
            check_operand(&op, &value)?;
            Operation::Fts {
                kind,
                language,
                value,
                on_json: false,
            }
        }
        name => {
            let Some(sql_op) = binary_operator(name) else {
                c.pos = start;
                return Err(c.error(if negated {
                    "operator (eq, gt, ...)"
                } else {
                    "\"not\" or operator (eq, gt, ...)"
                }));
            };
            let quantifier = if c.eat("(any)") {
                Some(Quantifier::Any)
            } else if c.eat("(all)") {
                Some(Quantifier::All)
            } else {
                None
            };
            if quantifier.is_some() && !quantifiable(name) {
                return Err(c.error("operator without (any)/(all)"));
            }
            if !c.eat(".") {
                return Err(c.error("\".\""));
            }
            let mut v = value(c)?;
            check_operand(name, &v)?;
            if matches!(name, "like" | "ilike") {
                v = v.replace('*', "%");
            }
            Operation::Compare {
                op: sql_op,
                quantifier,
                value: v,
            }
        }
    };
    Ok(Filter {
        field,
        negated,
        operation,
    })
}

/// The items of `in.(a,"b,c",d)` after the opening parenthesis.
fn in_list(c: &mut Cursor) -> Result<Vec<String>, ApiError> {
    let mut items = Vec::new();
    while c.eat(" ") {}
    if c.eat(")") {
        return Ok(items);
    }
    loop {
        // A quoted element — unless its quotes do not close before `,` or
        // `)`: then the characters as they are (as PostgREST reads `(")`).
        let start = c.pos;
        let quoted = if c.eat("\"") {
            c.quoted()
                .ok()
                .filter(|_| matches!(c.peek(), Some(',' | ')')))
        } else {
            None
        };
        let item = match quoted {
            Some(q) => q,
            None => {
                c.pos = start;
                while c.peek().is_some_and(|ch| ch != ',' && ch != ')') {
                    c.bump();
                }
                // Spaces around an unquoted element are not part of it.
                c.src[start..c.pos].trim().to_string()
            }
        };
        items.push(item);
        if c.eat(",") {
            continue;
        }
        if c.eat(")") {
            return Ok(items);
        }
        return Err(c.error("\",\" or \")\""));
    }
}

/// Parses the value of `or=(...)` / `and=(...)` (`negated` for `not.or`).
pub fn parse_logic(or: bool, negated: bool, src: &str) -> Result<Logic, ApiError> {
    let mut c = Cursor::new(src, "logic tree");
    c.prefix = match (negated, or) {
        (false, true) => "or",
        (false, false) => "and",
        (true, true) => "not.or",
        (true, false) => "not.and",
    };
    if !c.eat("(") {
        return Err(c.error("\"(\""));
    }
    // What follows the tree's closing parenthesis is ignored, as by
    // PostgREST's parser (`and=(a.eq.1))`).
    let children = logic_children(&mut c)?;
    Ok(Logic::Tree {
        or,
        negated,
        children,
    })
}

fn logic_children(c: &mut Cursor) -> Result<Vec<Logic>, ApiError> {
    let mut children = Vec::new();
    loop {
        // Spaces around the elements are allowed, as PostgREST.
        skip_spaces(c);
        children.push(logic_item(c)?);
        skip_spaces(c);
        if c.eat(",") {
            continue;
        }
        if c.eat(")") {
            return Ok(children);
        }
        return Err(c.error("\",\" or \")\""));
    }
}

fn logic_item(c: &mut Cursor) -> Result<Logic, ApiError> {
    let save = c.pos;
    let negated = c.eat("not.");
    for (kw, or) in [("and", false), ("or", true)] {
        let before = c.pos;
        if c.eat(kw) && {
            skip_spaces(c);
            c.eat("(")
        } {
            c.depth += 1;
            if c.depth > MAX_DEPTH {
                return Err(c.error("less deeply nested logic"));
            }
            let children = logic_children(c)?;
            c.depth -= 1;
            return Ok(Logic::Tree {
                or,
                negated,
                children,
            });
        }
        c.pos = before;
    }
    c.pos = save;
    let field = match c.field() {
        // Where an element starts, PostgREST's parser also expected `not.`
        // and a nested `and(`/`or(`.
        Err(_) if c.pos == save => return Err(c.error(
            "field name (* or [a..z0..9_$]), negation operator (not) or logic operator (and, or)",
        )),
        Err(_) if negated && c.pos == save + "not.".len() => {
            return Err(c.error("field name (* or [a..z0..9_$]) or logic operator (and, or)"))
        }
        r => r?,
    };
    if !c.eat(".") {
        return Err(c.error("\".\""));
    }
    let filter = filter_rhs(c, field, &mut |c| {
        if c.eat("\"") {
            return c.quoted();
        }
        let s = c.pos;
        let mut depth = 0i32;
        while let Some(ch) = c.peek() {
            match ch {
                '(' | '{' | '[' => depth += 1,
                ')' | '}' | ']' if depth > 0 => depth -= 1,
                ',' | ')' if depth == 0 => break,
                _ => {}
            }
            c.bump();
        }
        Ok(c.src[s..c.pos].trim_end().to_string())
    })?;
    Ok(Logic::Filter(filter))
}

fn skip_spaces(c: &mut Cursor) {
    while c.peek().is_some_and(char::is_whitespace) {
        c.bump();
    }
}

/// Parses the `order` parameter.
pub fn parse_order(src: &str) -> Result<Vec<OrderTerm>, ApiError> {
    let mut c = Cursor::new(src, "order");
    let mut terms = Vec::new();
    loop {
        let mut field = c.field()?;
        let mut relation = None;
        if field.path.is_empty() && c.eat("(") {
            relation = Some(field.name);
            field = c.field()?;
            if !c.eat(")") {
                return Err(c.error("\")\""));
            }
        }
        let mut term = OrderTerm {
            relation,
            field,
            descending: None,
            nulls: None,
        };
        while c.eat(".") {
            if c.eat("asc") {
                term.descending = Some(false);
            } else if c.eat("desc") {
                term.descending = Some(true);
            } else if c.eat("nullsfirst") {
                term.nulls = Some(Nulls::First);
            } else if c.eat("nullslast") {
                term.nulls = Some(Nulls::Last);
            } else {
                return Err(c.error("asc, desc, nullsfirst or nullslast"));
            }
        }
        terms.push(term);
        if c.done() {
            return Ok(terms);
        }
        if !c.eat(",") {
            // PostgREST's `eof` shows the character as Haskell shows a Char.
            let found = c.peek().unwrap_or_default();
            return Err(c.fail(format!(
                "unexpected {} expecting \",\" or end of input",
                haskell_show(found.encode_utf8(&mut [0; 4]), '\'')
            )));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(name: &str) -> Field {
        Field {
            name: name.into(),
            path: vec![],
            to_jsonb: false,
            rep: None,
            computed: None,
        }
    }

    #[test]
    fn select_columns_alias_cast_json() {
        let items = parse_select("id,t:title,amount::text,data->a->>b,*").unwrap();
        assert_eq!(items.len(), 5);
        assert_eq!(
            items[0],
            SelectItem::Column {
                field: col("id"),
                alias: None,
                cast: None,
                aggregate: None
            }
        );
        assert_eq!(
            items[1],
            SelectItem::Column {
                field: col("title"),
                alias: Some("t".into()),
                cast: None,
                aggregate: None
            }
        );
        assert_eq!(
            items[2],
            SelectItem::Column {
                field: col("amount"),
                alias: None,
                cast: Some("text".into()),
                aggregate: None
            }
        );
        match &items[3] {
            SelectItem::Column { field, .. } => {
                assert_eq!(field.path.len(), 2);
                assert_eq!(field.default_alias(), "b");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(items[4], SelectItem::Star);
    }

    #[test]
    fn select_embeds() {
        let items = parse_select("id,author:users!fk_author!inner(name),...tags(name)").unwrap();
        match &items[1] {
            SelectItem::Embed {
                relation,
                alias,
                hints,
                spread,
                items,
            } => {
                assert_eq!(relation, "users");
                assert_eq!(alias.as_deref(), Some("author"));
                assert_eq!(hints, &vec!["fk_author".to_string(), "inner".to_string()]);
                assert!(!spread);
                assert_eq!(items.len(), 1);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(&items[2], SelectItem::Embed { spread: true, .. }));
    }

    #[test]
    fn filters() {
        let f = parse_filter(col("a"), "eq.x.y").unwrap();
        assert_eq!(
            f.operation,
            Operation::Compare {
                op: "=",
                quantifier: None,
                value: "x.y".into()
            }
        );
        let f = parse_filter(col("a"), "not.in.(1,\"2,3\",4)").unwrap();
        assert!(f.negated);
        assert_eq!(
            f.operation,
            Operation::In(vec!["1".into(), "2,3".into(), "4".into()])
        );
        let f = parse_filter(col("a"), "ilike.*ab*").unwrap();
        assert_eq!(
            f.operation,
            Operation::Compare {
                op: "ILIKE",
                quantifier: None,
                value: "%ab%".into()
            }
        );
        let f = parse_filter(col("a"), "fts(english).cat").unwrap();
        assert!(matches!(
            f.operation,
            Operation::Fts {
                language: Some(_),
                ..
            }
        ));
        let f = parse_filter(col("a"), "eq(any).{1,2}").unwrap();
        assert!(matches!(
            f.operation,
            Operation::Compare {
                quantifier: Some(Quantifier::Any),
                ..
            }
        ));
        assert_eq!(
            parse_filter(col("a"), "is.NULL").unwrap().operation,
            Operation::Is(IsValue::Null)
        );
    }

    /// Message and details of a parse error, as the client sees them.
    fn said(e: ApiError) -> (String, String) {
        let details = e.details.and_then(|d| d.as_str().map(str::to_string));
        (e.message, details.unwrap_or_default())
    }

    #[test]
    fn parse_errors_say_where_as_postgrest_does() {
        // An empty tree: the column counts the `or` PostgREST parses first.
        assert_eq!(
            said(parse_logic(true, false, "()").unwrap_err()),
            (
                "\"failed to parse logic tree (())\" (line 1, column 4)".to_string(),
                "unexpected \")\" expecting field name (* or [a..z0..9_$]), negation operator (not) or logic operator (and, or)".to_string()
            )
        );
        assert!(said(parse_logic(false, true, "(x.eq.1,)").unwrap_err())
            .0
            .ends_with("(line 1, column 16)"));
        // Trailing text after a complete order term.
        assert_eq!(
            said(parse_order("name.desc.nullsfirstx").unwrap_err()),
            (
                "\"failed to parse order (name.desc.nullsfirstx)\" (line 1, column 21)".to_string(),
                "unexpected 'x' expecting \",\" or end of input".to_string()
            )
        );
        // No operator: `not.` was possible too.
        assert_eq!(
            said(parse_filter(col("id"), "7").unwrap_err()),
            (
                "\"failed to parse filter (7)\" (line 1, column 1)".to_string(),
                "unexpected \"7\" expecting \"not\" or operator (eq, gt, ...)".to_string()
            )
        );
        assert_eq!(
            said(parse_filter(col("id"), "not.7").unwrap_err()).1,
            "unexpected \"7\" expecting operator (eq, gt, ...)"
        );
        // A negative JSON index needs its digits.
        assert_eq!(
            said(parse_select("data->>-x").unwrap_err()),
            (
                "\"failed to parse select parameter (data->>-x)\" (line 1, column 9)".to_string(),
                "unexpected \"x\" expecting digit".to_string()
            )
        );
        // The source name is shown as Haskell shows a string.
        let e = said(parse_order("n\"é,\t!").unwrap_err()).0;
        assert!(
            e.starts_with("\"failed to parse order (n\\\"\\233,\\t!)\""),
            "{e}"
        );
    }

    #[test]
    fn logic_trees() {
        let l = parse_logic(
            true,
            false,
            "(a.eq.1,and(b.gt.2,c.not.is.null),d.in.(1,2),e.eq.\"x,y\")",
        )
        .unwrap();
        match l {
            Logic::Tree {
                or: true, children, ..
            } => {
                assert_eq!(children.len(), 4);
                assert!(
                    matches!(&children[1], Logic::Tree { or: false, children, .. } if children.len() == 2)
                );
                match &children[3] {
                    Logic::Filter(f) => assert_eq!(
                        f.operation,
                        Operation::Compare {
                            op: "=",
                            quantifier: None,
                            value: "x,y".into()
                        }
                    ),
                    other => panic!("{other:?}"),
                }
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn order_terms() {
        let o = parse_order("a.desc.nullsfirst,b,c->>d.asc,author(name).desc").unwrap();
        assert_eq!(o.len(), 4);
        assert_eq!(o[3].relation.as_deref(), Some("author"));
        assert_eq!(o[3].field.name, "name");
        assert_eq!(o[0].descending, Some(true));
        assert_eq!(o[0].nulls, Some(Nulls::First));
        assert_eq!(o[2].field.path.len(), 1);
    }

    #[test]
    fn malformed_inputs_are_errors_not_panics() {
        let bad_filters = [
            "",
            "eqx.1",
            "eq",
            "in.1,2",
            "in.(1,2",
            "is.maybe",
            "fts(.x",
            "not.",
            "eq(any)",
            "cs(any).{1}",
            "\u{1F600}",
        ];
        for b in bad_filters {
            let e = parse_filter(col("a"), b).unwrap_err();
            assert_eq!(e.code, "PGRST100", "{b}");
            assert_eq!(e.status, 400);
        }
        for b in [
            "a,", "(", "a(", "a:b:c", "a::", "a->", "\"abc", ",", "a!x", "...a", "a)",
        ] {
            assert_eq!(parse_select(b).unwrap_err().code, "PGRST100", "{b}");
        }
        for b in ["a.sideways", "a,", ".desc", "a..desc"] {
            assert!(parse_order(b).is_err(), "{b}");
        }
        for b in ["a.eq.1", "(a.eq.1", "(a.xx.1)", "(and(a.eq.1)", "()", "(a)"] {
            assert!(parse_logic(true, false, b).is_err(), "{b}");
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let deep_logic = format!("({}a.eq.1{})", "and(".repeat(10_000), ")".repeat(10_000));
        assert_eq!(
            parse_logic(true, false, &deep_logic).unwrap_err().code,
            "PGRST100"
        );
        let deep_select = format!("{}x{}", "a(".repeat(10_000), ")".repeat(10_000));
        assert_eq!(parse_select(&deep_select).unwrap_err().code, "PGRST100");
        let ok = format!(
            "({}a.eq.1{})",
            "and(".repeat(MAX_DEPTH - 1),
            ")".repeat(MAX_DEPTH - 1)
        );
        assert!(parse_logic(true, false, &ok).is_ok());
    }

    #[test]
    fn aggregates_with_aliases_and_casts() {
        let agg = |item: &SelectItem| match item {
            SelectItem::Column {
                field,
                alias,
                cast,
                aggregate: Some(a),
            } => (
                field.name.clone(),
                alias.clone(),
                cast.clone(),
                a.function,
                a.cast.clone(),
            ),
            other => panic!("no aggregate: {other:?}"),
        };
        let items = parse_select(
            "count(),n:count()::text,s:data->>k::int.sum()::text,total.avg(),b(id.max())",
        )
        .unwrap();
        assert_eq!(
            agg(&items[0]),
            ("*".into(), None, None, AggregateFn::Count, None)
        );
        assert_eq!(
            agg(&items[1]),
            (
                "*".into(),
                Some("n".into()),
                None,
                AggregateFn::Count,
                Some("text".into())
            )
        );
        assert_eq!(
            agg(&items[2]),
            (
                "data".into(),
                Some("s".into()),
                Some("int".into()),
                AggregateFn::Sum,
                Some("text".into())
            )
        );
        assert_eq!(agg(&items[3]).3, AggregateFn::Avg);
        match &items[4] {
            SelectItem::Embed { items, .. } => assert_eq!(agg(&items[0]).3, AggregateFn::Max),
            other => panic!("{other:?}"),
        }
        // Columns named like aggregates stay columns; unknown functions are errors.
        assert!(matches!(
            parse_select("sum,count").unwrap()[1],
            SelectItem::Column {
                aggregate: None,
                ..
            }
        ));
        assert!(parse_select("id.median()").is_err());
    }

    #[test]
    fn hostile_operands_are_refused_before_sql() {
        let path = |n: usize| format!("data{}", "->x".repeat(n));
        assert!(parse_field(&path(MAX_JSON_PATH)).is_ok());
        let e = parse_field(&path(3000)).unwrap_err();
        assert_eq!((e.status, e.code.as_str()), (400, "PGRST100"));
        assert!(parse_select(&path(MAX_JSON_PATH + 1)).is_err());
        assert!(parse_order(&format!("{}.desc", path(5000))).is_err());
        assert!(parse_logic(true, false, &format!("({}.eq.1)", path(2000))).is_err());

        let nested = |n: usize| format!("match.{}a{}", "(".repeat(n), ")".repeat(n));
        assert!(parse_filter(col("a"), &nested(MAX_PATTERN_NESTING)).is_ok());
        let e = parse_filter(col("a"), &nested(5000)).unwrap_err();
        assert_eq!(e.code, "PGRST100");
        assert!(e.details.unwrap().as_str().unwrap().contains("5000 deep"));
        // Escaped parentheses are literals, not groups.
        assert!(parse_filter(col("a"), &format!("imatch.{}", "\\(".repeat(100))).is_ok());

        assert!(parse_filter(col("a"), "fts(english).cat & (dog | fish)").is_ok());
        let terms = vec!["w"; 12_000].join("&");
        assert_eq!(
            parse_filter(col("a"), &format!("fts.{terms}"))
                .unwrap_err()
                .code,
            "PGRST100"
        );
        let words = vec!["w"; 300].join(" ");
        assert!(parse_filter(col("a"), &format!("plfts.{words}")).is_err());
        // Inside a logic tree too.
        assert!(parse_logic(false, false, &format!("(a.fts.{terms})")).is_err());
    }

    #[test]
    fn fuzzish_inputs_never_panic() {
        let alphabet = [
            "a", ".", ",", "(", ")", "\"", "\\", "-", ">", ":", "!", "*", "eq", "in", "not", "é",
            "{", "}",
        ];
        let mut seed: u64 = 42;
        for _ in 0..5000 {
            let mut s = String::new();
            for _ in 0..(seed % 12) {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                s.push_str(alphabet[(seed >> 33) as usize % alphabet.len()]);
            }
            let _ = parse_select(&s);
            let _ = parse_order(&s);
            let _ = parse_logic(false, false, &s);
            let _ = parse_filter(col("a"), &s);
            let _ = parse_field(&s);
        }
    }
}
