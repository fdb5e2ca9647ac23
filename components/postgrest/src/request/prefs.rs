//! `Prefer` header values, typed; the names PostgREST echoes in
//! `Preference-Applied` come from [`Preferences::applied`]-style `as_str`s.

use super::Request;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Return {
    Minimal,
    HeadersOnly,
    Representation,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    Exact,
    Planned,
    Estimated,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    MergeDuplicates,
    IgnoreDuplicates,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handling {
    Strict,
    Lenient,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    Default,
    Null,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tx {
    Commit,
    Rollback,
}

impl Return {
    pub fn as_str(self) -> &'static str {
        match self {
            Return::Minimal => "return=minimal",
            Return::HeadersOnly => "return=headers-only",
            Return::Representation => "return=representation",
        }
    }
}

impl Count {
    pub fn as_str(self) -> &'static str {
        match self {
            Count::Exact => "count=exact",
            Count::Planned => "count=planned",
            Count::Estimated => "count=estimated",
        }
    }
}

impl Resolution {
    pub fn as_str(self) -> &'static str {
        match self {
            Resolution::MergeDuplicates => "resolution=merge-duplicates",
            Resolution::IgnoreDuplicates => "resolution=ignore-duplicates",
        }
    }
}

impl Handling {
    pub fn as_str(self) -> &'static str {
        match self {
            Handling::Strict => "handling=strict",
            Handling::Lenient => "handling=lenient",
        }
    }
}

impl Missing {
    pub fn as_str(self) -> &'static str {
        match self {
            Missing::Default => "missing=default",
            Missing::Null => "missing=null",
        }
    }
}

impl Tx {
    pub fn as_str(self) -> &'static str {
        match self {
            Tx::Commit => "tx=commit",
            Tx::Rollback => "tx=rollback",
        }
    }
}

/// The `Prefer` headers (all of them; as PostgREST, the first of a
/// preference given twice wins).
#[derive(Debug, Default, Clone)]
pub struct Preferences {
    pub returning: Option<Return>,
    pub count: Option<Count>,
    pub resolution: Option<Resolution>,
    pub tx: Option<Tx>,
    pub handling: Option<Handling>,
    pub missing: Option<Missing>,
    /// `params=single-object`: the whole body is the function's one json argument.
    pub single_object: bool,
    /// `max-affected=N` (with `handling=strict`)
    pub max_affected: Option<u64>,
    /// `timezone=Area/City`: the transaction's `timezone` when it is a known one.
    pub timezone: Option<String>,
    /// Preferences not understood.
    pub invalid: Vec<String>,
}

impl Preferences {
    pub fn parse(req: &Request) -> Self {
        let mut p = Preferences::default();
        fn first<T>(slot: &mut Option<T>, v: T) {
            if slot.is_none() {
                *slot = Some(v);
            }
        }
        for header in req.header_all("prefer") {
            for item in header.split(',').map(str::trim) {
                match item {
                    "return=minimal" => first(&mut p.returning, Return::Minimal),
                    "return=headers-only" => first(&mut p.returning, Return::HeadersOnly),
                    "return=representation" => first(&mut p.returning, Return::Representation),
                    "resolution=merge-duplicates" => {
                        first(&mut p.resolution, Resolution::MergeDuplicates)
                    }
                    "resolution=ignore-duplicates" => {
                        first(&mut p.resolution, Resolution::IgnoreDuplicates)
                    }
                    "count=exact" => first(&mut p.count, Count::Exact),
                    "count=planned" => first(&mut p.count, Count::Planned),
                    "count=estimated" => first(&mut p.count, Count::Estimated),
                    "tx=commit" => first(&mut p.tx, Tx::Commit),
                    "tx=rollback" => first(&mut p.tx, Tx::Rollback),
                    "handling=strict" => first(&mut p.handling, Handling::Strict),
                    "handling=lenient" => first(&mut p.handling, Handling::Lenient),
                    "missing=default" => first(&mut p.missing, Missing::Default),
                    "missing=null" => first(&mut p.missing, Missing::Null),
                    "params=single-object" => p.single_object = true,
                    "" => {}
                    other if other.starts_with("timezone=") && other.len() > 9 => {
                        first(&mut p.timezone, other[9..].to_string())
                    }
                    other => match other
                        .strip_prefix("max-affected=")
                        .map(|n| n.parse::<u64>())
                    {
                        Some(Ok(n)) => first(&mut p.max_affected, n),
                        _ => p.invalid.push(other.to_string()),
                    },
                }
            }
        }
        p
    }

    /// `handling=strict`
    pub fn strict(&self) -> bool {
        self.handling == Some(Handling::Strict)
    }

    /// `missing=default`: keys absent from a row take the column default.
    pub fn missing_default(&self) -> bool {
        self.missing == Some(Missing::Default)
    }
}
