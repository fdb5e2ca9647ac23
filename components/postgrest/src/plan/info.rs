//! Plans that need no SQL, PostgREST's `InfoPlan`: the OpenAPI document
//! of a schema (`GET /`) and `OPTIONS` on a table, view or function. The
//! response stage renders them ([`crate::response::info`]).

use super::CacheLoader;
use crate::error::ApiError;
use crate::request::ApiRequest;
use crate::schema::SchemaCache;
use std::rc::Rc;

/// An answer that needs no SQL.
#[derive(Debug, Clone)]
pub enum InfoPlan {
    /// GET/HEAD on the root: the OpenAPI description of `schema`
    /// (PostgREST's `SchemaInfoPlan`); `host` is the `Host` header.
    Schema {
        cache: Rc<SchemaCache>,
        schema: String,
        host: Option<String>,
        head: bool,
    },
    /// `OPTIONS` on a table or view of this kind (`RelInfoPlan`).
    Relation { kind: String },
    /// `OPTIONS` on a function of this volatility (`RoutineInfoPlan`).
    Routine { volatility: String },
}

/// `GET /`: the OpenAPI document, when `Accept` allows it (PGRST107 otherwise).
pub(crate) fn openapi(api: &ApiRequest, cache: &mut CacheLoader) -> Result<InfoPlan, ApiError> {
    let accepts = crate::request::accepted(api.accept);
    let offered = [
        "application/openapi+json",
        "application/json",
        "*/*",
        "application/*",
    ];
    if !accepts.is_empty() && !accepts.iter().any(|(m, _)| offered.contains(&m.as_str())) {
        return Err(ApiError::new(
            406,
            "PGRST107",
            format!(
                "None of these media types are available: {}",
                api.accept.unwrap_or_default()
            ),
        ));
    }
    Ok(InfoPlan::Schema {
        cache: cache()?,
        schema: api.schema.clone(),
        host: api.host.map(str::to_string),
        head: api.head,
    })
}

/// `OPTIONS` on a table or function (no CORS preflight: the rewriter
/// answers those); 404 when the schema cache does not know it.
pub(crate) fn options(api: &ApiRequest, cache: &mut CacheLoader) -> Result<InfoPlan, ApiError> {
    let (schema, name) = (api.schema.as_str(), api.name.as_str());
    let cache = cache()?;
    if api.function {
        let f = cache
            .functions
            .iter()
            .find(|f| f.schema == schema && f.name == name)
            .ok_or_else(|| {
                ApiError::new(
                    404,
                    "PGRST202",
                    format!("Could not find the function {schema}.{name} in the schema cache"),
                )
            })?;
        Ok(InfoPlan::Routine {
            volatility: f.volatility.clone(),
        })
    } else {
        Ok(InfoPlan::Relation {
            kind: cache.table_or_error(schema, name)?.kind.clone(),
        })
    }
}
