//! `/rpc/<function>`, PostgREST's `CallPlan`: overload resolution against
//! the schema cache (which function, which arguments from the body or the
//! query string, what its rows look like) and the read over its rows. The
//! query stage renders the call.

use super::read::{self, Node};
use super::{CacheLoader, Shape};
use crate::config::Config;
use crate::error::ApiError;
use crate::request::prefs::Count;
use crate::request::{ApiRequest, QueryParams};
use crate::schema::{Function, SchemaCache};
use serde_json::{Map, Value};

/// A function call, and the read over its rows.
pub struct CallPlan {
    pub call: Call,
    /// The rows' embed tree (functions returning rows).
    pub root: Option<Node>,
    /// `count=exact`: the function runs once into a materialized CTE that
    /// both the page and the count read.
    pub exact: bool,
    pub limit: Option<u64>,
    pub offset: Option<u64>,
}

/// Plans the request's call: the function and its arguments, then the
/// read of its rows (their embeds, filters, order and paging).
pub(crate) fn plan(
    cfg: &Config,
    api: &mut ApiRequest,
    cache: &mut CacheLoader,
) -> Result<CallPlan, ApiError> {
    let prefs = &api.prefs;
    let q = &mut api.query;
    let call = plan_call(
        &api.schema,
        &api.name,
        !api.read_only,
        api.content_type.as_deref(),
        &api.body,
        q,
        prefs.single_object,
        cache,
    )?;
    if prefs.strict()
        && prefs.max_affected.is_some()
        && !matches!(call.shape, Shape::Rows | Shape::Scalars)
    {
        return Err(ApiError::new(
            400,
            "PGRST128",
            "Function must return SETOF or TABLE when max-affected preference is used with handling=strict",
        ));
    }
    let root = match call.shape {
        Shape::Rows | Shape::Row => {
            let (schema, table) = call
                .table
                .clone()
                .unwrap_or((api.schema.clone(), api.name.clone()));
            Some(read::root(
                &schema,
                &table,
                q,
                api.json_paths,
                cfg.aggregates_enabled,
                cache,
            )?)
        }
        _ => None,
    };
    Ok(CallPlan {
        call,
        root,
        exact: prefs.count == Some(Count::Exact),
        limit: q.limit,
        offset: q.offset,
    })
}

pub struct Call {
    pub shape: Shape,
    /// The table type the function returns, for embedding from its rows.
    pub table: Option<(String, String)>,
    pub(crate) schema: String,
    pub(crate) name: String,
    /// (name, type, variadic) of the arguments passed by name.
    pub(crate) args: Vec<(String, String, bool)>,
    /// The single unnamed json/jsonb parameter's type, when the body is passed whole.
    pub(crate) whole_body: Option<String>,
    pub(crate) payload: String,
    /// `returns record` without OUT parameters: called in a select list
    /// (in FROM it would need a column definition list).
    pub(crate) in_select_list: bool,
}

impl Call {
    /// A call passing the whole body as the one argument, of type `ty`.
    fn whole_body(f: &Function, ty: String, payload: String) -> Self {
        let (shape, table) = shape_of(f);
        Call {
            shape,
            table,
            schema: f.schema.clone(),
            name: f.name.clone(),
            args: Vec::new(),
            whole_body: Some(ty),
            payload,
            in_select_list: record_scalar(f),
        }
    }
}

fn shape_of(f: &Function) -> (Shape, Option<(String, String)>) {
    if f.returns == "void" {
        return (Shape::Void, None);
    }
    if f.returns_rows() {
        let table = f
            .return_table
            .as_ref()
            .map(|t| (t.schema.clone(), t.name.clone()));
        return (
            if f.returns_set {
                Shape::Rows
            } else {
                Shape::Row
            },
            table,
        );
    }
    (
        if f.returns_set {
            Shape::Scalars
        } else {
            Shape::Scalar
        },
        None,
    )
}

/// Callable through the API: all parameters named, or exactly one unnamed
/// of a type a whole request body can be (json, jsonb, text, xml, bytea).
fn callable(f: &Function) -> bool {
    let params = f.params();
    match params.iter().filter(|p| p.name.is_empty()).count() {
        0 => true,
        1 => {
            params.len() == 1 && matches!(params[0].ty, "json" | "jsonb" | "text" | "xml" | "bytea")
        }
        _ => false,
    }
}

/// PGRST202 as PostgREST words it, with its "Perhaps you meant" hint: the
/// closest function name, or the closest parameter list of this one.
/// `json_post`: a POST with a JSON body, which could also have gone whole to
/// a single unnamed json/jsonb parameter.
fn no_function(
    cache: &SchemaCache,
    schema: &str,
    name: &str,
    keys: &[String],
    json_post: bool,
    overloads: &[&Function],
) -> ApiError {
    let func = format!("{schema}.{name}");
    let listed = keys.join(", ");
    let message_params = if keys.is_empty() {
        " without parameters".to_string()
    } else {
        format!("({listed})")
    };
    let detail_params = if keys.is_empty() {
        " without parameters".to_string()
    } else {
        format!(
            " with parameter{} {listed}",
            if keys.len() > 1 { "s" } else { "" }
        )
    };
    let json_alternative = if json_post {
        " or with a single unnamed json/jsonb parameter"
    } else {
        ""
    };
    let sorted_list = |names: &mut Vec<&str>| {
        names.sort();
        format!("({})", names.join(", "))
    };
    let hint = if overloads.is_empty() {
        let names: Vec<&str> = cache
            .functions
            .iter()
            .filter(|f| f.schema == schema && callable(f))
            .map(|f| f.name.as_str())
            .collect();
        crate::fuzzy::best_match(name, &names)
            .map(|n| format!("Perhaps you meant to call the function {schema}.{n}"))
    } else {
        let lists: Vec<String> = overloads
            .iter()
            .map(|f| sorted_list(&mut f.params().iter().map(|p| p.name).collect()))
            .collect();
        let refs: Vec<&str> = lists.iter().map(String::as_str).collect();
        let asked = sorted_list(&mut keys.iter().map(String::as_str).collect());
        crate::fuzzy::best_match(&asked, &refs)
            .map(|l| format!("Perhaps you meant to call the function {schema}.{name}{l}"))
    };
    let e = ApiError::new(
        404,
        "PGRST202",
        format!("Could not find the function {func}{message_params} in the schema cache"),
    )
    .details(format!(
        "Searched for the function {func}{detail_params}{json_alternative}, but no matches were found in the schema cache."
    ));
    match hint {
        Some(h) => e.hint(h),
        None => e,
    }
}

fn single_json_param(f: &Function) -> Option<String> {
    match f.params().as_slice() {
        [p] if p.name.is_empty() && (p.ty == "json" || p.ty == "jsonb") => Some(p.ty.to_string()),
        _ => None,
    }
}

/// Chooses the function for `/rpc/<name>` and its arguments. For GET the
/// query parameters that are not arguments become filters on the result.
#[allow(clippy::too_many_arguments)]
pub(crate) fn plan_call(
    schema: &str,
    name: &str,
    post: bool,
    content_type: Option<&str>,
    body: &[u8],
    q: &mut QueryParams,
    single_object: bool,
    cache: &mut CacheLoader,
) -> Result<Call, ApiError> {
    let cache: std::rc::Rc<SchemaCache> = cache()?;
    // As PostgREST, a function with unnamed parameters can only be called
    // when it has one, of a type a whole body can be passed as.
    let candidates: Vec<&Function> = cache
        .functions(schema, name)
        .filter(|f| callable(f))
        .collect();
    // A text, XML or binary body goes whole to the single unnamed parameter
    // of that type.
    let raw_type = match content_type {
        Some("text/plain") if post => Some("text"),
        Some("text/xml") if post => Some("xml"),
        Some("application/octet-stream") if post => Some("bytea"),
        _ => None,
    };
    if let Some(ty) = raw_type {
        let f = candidates
            .iter()
            .find(|f| matches!(f.params().as_slice(), [p] if p.name.is_empty() && p.ty == ty))
            .ok_or_else(|| no_single_param(schema, name, &format!("unnamed {ty}")))?;
        let payload = if ty == "bytea" {
            format!("\\x{}", hex::encode(body))
        } else {
            String::from_utf8_lossy(body).into_owned()
        };
        q.parse_filters()?;
        return Ok(Call::whole_body(f, ty.to_string(), payload));
    }

    let raw = body;
    let (body, keys) = argument_keys(post, body, q)?;
    let matching = matching(&candidates, &keys);
    // Only a JSON body goes whole to a single unnamed json/jsonb parameter
    // (a CSV or form body's fields are arguments).
    let json_body = matches!(content_type, None | Some("application/json"));
    let whole_body_fns: Vec<&Function> = candidates
        .iter()
        .filter(|f| json_body && single_json_param(f).is_some())
        .copied()
        .collect();
    if post && whole_body_fns.len() > 1 && matching.is_empty() {
        return Err(ambiguous(schema, name, &whole_body_fns));
    }
    let whole_body_fn = || whole_body_fns.first().copied();
    // Prefer: params=single-object: the one json/jsonb parameter, named or not.
    if post && single_object {
        let f = candidates
            .iter()
            .find(|f| matches!(f.params().as_slice(), [p] if p.ty == "json" || p.ty == "jsonb"))
            .ok_or_else(|| no_single_param(schema, name, "json/jsonb"))?;
        let ty = f.params()[0].ty.to_string();
        q.parse_filters()?;
        let payload = body.map(|b| b.to_string()).unwrap_or_else(|| "{}".into());
        return Ok(Call::whole_body(f, ty, payload));
    }

    let (f, whole_body) = match (matching.as_slice(), post) {
        ([(f, _)], _) if !(post && body.as_ref().is_some_and(|b| first_object(b).is_none())) => {
            (*f, None)
        }
        (_, true)
            if whole_body_fn().is_some()
                && (matching.is_empty() || !body.as_ref().is_some_and(Value::is_object)) =>
        {
            let f = whole_body_fn().unwrap();
            (f, single_json_param(f))
        }
        ([], _) => {
            return Err(no_function(
                &cache,
                schema,
                name,
                &keys,
                post && json_body,
                &candidates,
            ))
        }
        (many, _) => {
            let many: Vec<&Function> = many.iter().map(|(f, _)| *f).collect();
            return Err(ambiguous(schema, name, &many));
        }
    };

    // One unnamed parameter (of any type) takes the whole body as it came
    // (PostgREST's `OnePosParam`: `f($1::type)`).
    let whole_body = whole_body.or_else(|| match f.params().as_slice() {
        [p] if p.name.is_empty() && post => Some(p.ty.to_string()),
        _ => None,
    });
    let (payload, args) = if whole_body.is_some() {
        (raw_body(raw, body.as_ref()), Vec::new())
    } else if post {
        body_arguments(f, body, raw, &keys)
    } else {
        query_arguments(f, q)
    };
    q.parse_filters()?;
    let (shape, table) = shape_of(f);
    Ok(Call {
        shape,
        table,
        schema: schema.into(),
        name: name.into(),
        args,
        whole_body,
        payload,
        in_select_list: record_scalar(f),
    })
}

/// The body a single parameter takes whole: the request's own bytes (as
/// PostgREST's `payRaw`), `{}` for none.
fn raw_body(raw: &[u8], parsed: Option<&Value>) -> String {
    match std::str::from_utf8(raw) {
        Ok(t) if !t.trim().is_empty() => t.to_string(),
        Ok(_) => "{}".into(),
        Err(_) => parsed.map(|b| b.to_string()).unwrap_or_else(|| "{}".into()),
    }
}

/// The body (parsed) and the names of the arguments given: a POST's body
/// keys (of its first object; only those `?columns=` names), or a GET's
/// query parameters that are no filters.
fn argument_keys(
    post: bool,
    body: &[u8],
    q: &QueryParams,
) -> Result<(Option<Value>, Vec<String>), ApiError> {
    if post {
        let text = std::str::from_utf8(body).unwrap_or("").trim();
        let v: Value = if text.is_empty() {
            Value::Object(Map::new())
        } else {
            serde_json::from_str(text).map_err(|_| ApiError::body("Empty or invalid json"))?
        };
        let keys: Vec<String> = first_object(&v)
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        // `?columns=` names the body keys that are arguments.
        let keys = match &q.columns {
            Some(cols) => keys.into_iter().filter(|k| cols.contains(k)).collect(),
            None => keys,
        };
        Ok((Some(v), keys))
    } else {
        // A query parameter is an argument unless its value is a filter
        // (`?id=5&id=gt.2`: the argument 5, rows with id > 2), as PostgREST.
        let mut keys: Vec<String> = Vec::new();
        for (k, v) in &q.raw_filters {
            if !is_filter(k, v) && !keys.contains(k) {
                keys.push(k.clone());
            }
        }
        Ok((None, keys))
    }
}

/// The overloads that take exactly the given arguments (all required ones
/// among them), those using the most first: PostgREST's `matchesParams`,
/// where a single unnamed parameter is named `""` (a body `{"": …}`
/// names it, and a defaulted one matches no arguments at all).
fn matching<'a>(candidates: &[&'a Function], keys: &[String]) -> Vec<(&'a Function, usize)> {
    let fits = |f: &Function| -> Option<usize> {
        let params = f.params();
        if params.iter().any(|p| p.name.is_empty()) && params.len() > 1 {
            return None;
        }
        let required_ok = params
            .iter()
            .filter(|p| !p.optional)
            .all(|p| keys.iter().any(|k| k == p.name));
        let used = keys
            .iter()
            .filter(|k| params.iter().any(|p| p.name == k.as_str()))
            .count();
        let all_keys_are_params = used == keys.len();
        (required_ok && all_keys_are_params).then_some(used)
    };
    let mut matching: Vec<(&Function, usize)> = candidates
        .iter()
        .filter_map(|f| fits(f).map(|n| (*f, n)))
        .collect();
    if let Some(best) = matching.iter().map(|(_, n)| *n).max() {
        matching.retain(|(_, n)| *n == best);
    }
    matching
}

/// A POST's arguments: the body's (first) object, with the parameters it
/// names among `keys`.
fn body_arguments(
    f: &Function,
    body: Option<Value>,
    text: &[u8],
    keys: &[String],
) -> (String, Vec<(String, String, bool)>) {
    // An array body: its first object holds the arguments. The parsed body
    // is taken apart, not cloned (a large body's values cost far more
    // parsed than as text).
    let whole_object = matches!(body, Some(Value::Object(_)));
    let mut obj = match body {
        Some(Value::Object(o)) => o,
        Some(Value::Array(items)) => match items.into_iter().next() {
            Some(Value::Object(o)) => o,
            _ => Map::new(),
        },
        _ => Map::new(),
    };
    let args: Vec<(String, String, bool)> = f
        .params()
        .iter()
        .filter(|p| obj.get(p.name).is_some() && keys.iter().any(|k| k == p.name))
        .map(|p| (p.name.to_string(), p.ty.to_string(), p.variadic))
        .collect();
    // A variadic argument given once (`v=hi` in a form) is a one-element array.
    let mut changed = false;
    for (name, _, variadic) in &args {
        if let Some(v) = obj.get_mut(name).filter(|v| *variadic && !v.is_array()) {
            *v = Value::Array(vec![v.take()]);
            changed = true;
        }
    }
    // An object body unchanged is its own text: not written out again.
    let text = std::str::from_utf8(text).unwrap_or("").trim();
    if whole_object && !changed && !text.is_empty() {
        drop(obj);
        return (text.to_string(), args);
    }
    (Value::Object(obj).to_string(), args)
}

/// A GET's arguments: the query parameters naming parameters (the others
/// stay filters on the result).
fn query_arguments(f: &Function, q: &mut QueryParams) -> (String, Vec<(String, String, bool)>) {
    let mut obj = Map::new();
    let mut args = Vec::new();
    for p in &f.params() {
        let values: Vec<&String> = q
            .raw_filters
            .iter()
            .filter(|(k, v)| k == p.name && !is_filter(k, v))
            .map(|(_, v)| v)
            .collect();
        if values.is_empty() {
            continue;
        }
        // Repeated keys fill a variadic (array) parameter: ?v=1&v=2.
        let value = if p.variadic {
            Value::Array(values.iter().map(|v| Value::String((*v).clone())).collect())
        } else {
            Value::String(values[values.len() - 1].clone())
        };
        obj.insert(p.name.to_string(), value);
        args.push((p.name.to_string(), p.ty.to_string(), p.variadic));
    }
    q.raw_filters.retain(|(k, v)| is_filter(k, v));
    (Value::Object(obj).to_string(), args)
}

/// PGRST202 for a body that goes whole to a single parameter of `kind`.
fn no_single_param(schema: &str, name: &str, kind: &str) -> ApiError {
    ApiError::new(
        404,
        "PGRST202",
        format!("Could not find the function {schema}.{name} in the schema cache"),
    )
    .details(format!(
        "Searched for the function {schema}.{name} with a single {kind} parameter, but no matches were found in the schema cache."
    ))
}

/// PGRST203: more than one function fits, listed as PostgREST does.
fn ambiguous(schema: &str, name: &str, fns: &[&Function]) -> ApiError {
    // PostgREST's order (`instance Ord Routine`): fewer parameters first,
    // then the parameters compared one by one (name, type, required, …).
    let mut fns = fns.to_vec();
    fns.sort_by_cached_key(|f| {
        let ps: Vec<(String, String, bool, bool)> = f
            .params()
            .iter()
            .map(|p| (p.name.to_string(), p.ty.to_string(), !p.optional, p.variadic))
            .collect();
        (ps.len(), ps, f.returns.clone())
    });
    let sigs: Vec<String> = fns
        .iter()
        .map(|f| {
            let ps: Vec<String> = f
                .params()
                .iter()
                .map(|p| format!("{} => {}", p.name, p.ty))
                .collect();
            format!("{schema}.{name}({})", ps.join(", "))
        })
        .collect();
    ApiError::new(
        300,
        "PGRST203",
        format!("Could not choose the best candidate function between: {}", sigs.join(", ")),
    )
    .hint("Try renaming the parameters or the function itself in the database so function overloading can be resolved")
}

/// Whether `key=value` in a GET RPC's query is a filter on its result.
fn is_filter(key: &str, value: &str) -> bool {
    crate::request::grammar::parse_field(key)
        .and_then(|f| crate::request::grammar::parse_filter(f, value))
        .is_ok()
}

/// The object of a body, or the first object of an array body.
fn first_object(v: &Value) -> Option<&Map<String, Value>> {
    match v {
        Value::Object(o) => Some(o),
        Value::Array(items) => items.first().and_then(Value::as_object),
        _ => None,
    }
}

/// `returns record` (or `setof record`) with no OUT parameters.
fn record_scalar(f: &Function) -> bool {
    f.returns == "record" && !f.returns_rows()
}
