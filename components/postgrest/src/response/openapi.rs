//! The OpenAPI (Swagger 2.0) description PostgREST serves at `/`, generated
//! from the schema cache for one exposed schema.

use crate::schema::{SchemaCache, Table};
use serde_json::{json, Map, Value};

fn json_type(pg: &str) -> (&'static str, Option<Value>) {
    let base = pg.trim_end_matches("[]");
    if base != pg {
        let (t, _) = json_type(base);
        return ("array", Some(json!({ "type": t })));
    }
    let t = match base {
        "smallint" | "integer" | "bigint" => "integer",
        "real" | "double precision" => "number",
        b if b.starts_with("numeric") => "number",
        "boolean" => "boolean",
        "json" | "jsonb" => return ("", None),
        _ => "string",
    };
    (t, None)
}

fn property(t: &Table, c: &crate::schema::Column) -> Value {
    let (ty, items) = json_type(&c.ty);
    let mut p = Map::new();
    p.insert("format".into(), json!(c.ty));
    if !ty.is_empty() {
        p.insert("type".into(), json!(ty));
    }
    if let Some(items) = items {
        p.insert("items".into(), items);
    }
    if t.pk.contains(&c.name) {
        p.insert(
            "description".into(),
            json!("Note:\nThis is a Primary Key.<pk/>"),
        );
    }
    Value::Object(p)
}

/// The document for `schema`; `host` is the `Host` header, if any.
pub fn document(cache: &SchemaCache, schema: &str, host: Option<&str>) -> Value {
    let mut paths = Map::new();
    let mut definitions = Map::new();
    let mut parameters = Map::new();
    let param = |name: &str, desc: &str, location: &str| json!({"name": name, "description": desc, "required": false, "in": location, "type": "string"});
    parameters.insert(
        "select".into(),
        param("select", "Filtering Columns", "query"),
    );
    parameters.insert("order".into(), param("order", "Ordering", "query"));
    parameters.insert(
        "range".into(),
        param("Range", "Limiting and Pagination", "header"),
    );
    parameters.insert("rangeUnit".into(), json!({"name": "Range-Unit", "description": "Limiting and Pagination", "required": false, "in": "header", "type": "string", "default": "items"}));
    parameters.insert(
        "offset".into(),
        param("offset", "Limiting and Pagination", "query"),
    );
    parameters.insert(
        "limit".into(),
        param("limit", "Limiting and Pagination", "query"),
    );
    parameters.insert(
        "on_conflict".into(),
        param("on_conflict", "On Conflict", "query"),
    );
    parameters.insert(
        "preferReturn".into(),
        json!({"name": "Prefer", "description": "Preference", "required": false, "in": "header", "type": "string", "enum": ["return=representation", "return=minimal", "return=none"]}),
    );
    parameters.insert(
        "preferCount".into(),
        json!({"name": "Prefer", "description": "Preference", "required": false, "in": "header", "type": "string", "enum": ["count=none"]}),
    );
    paths.insert(
        "/".into(),
        json!({"get": {"produces": ["application/openapi+json", "application/json"], "responses": {"200": {"description": "OK"}}, "summary": "OpenAPI description (this document)", "tags": ["Introspection"]}}),
    );
    for t in cache.tables.iter().filter(|t| t.schema == schema) {
        let required: Vec<&String> = t
            .columns
            .iter()
            .filter(|c| !c.nullable && !c.has_default)
            .map(|c| &c.name)
            .collect();
        let props: Map<String, Value> = t
            .columns
            .iter()
            .map(|c| (c.name.clone(), property(t, c)))
            .collect();
        definitions.insert(
            t.name.clone(),
            json!({"required": required, "properties": props, "type": "object"}),
        );
        let mut filters: Vec<Value> = Vec::new();
        for c in &t.columns {
            let key = format!("rowFilter.{}.{}", t.name, c.name);
            parameters.insert(key.clone(), json!({"name": c.name, "required": false, "in": "query", "format": c.ty, "type": "string"}));
            filters.push(json!({"$ref": format!("#/parameters/{key}")}));
        }
        let body = format!("body.{}", t.name);
        parameters.insert(
            body.clone(),
            json!({"name": t.name, "description": t.name, "required": false, "in": "body", "schema": {"$ref": format!("#/definitions/{}", t.name)}}),
        );
        let with = |extra: &[&str]| -> Vec<Value> {
            filters
                .iter()
                .cloned()
                .chain(
                    extra
                        .iter()
                        .map(|p| json!({"$ref": format!("#/parameters/{p}")})),
                )
                .collect()
        };
        let mut ops = Map::new();
        ops.insert(
            "get".into(),
            json!({
                "parameters": with(&["select", "order", "range", "rangeUnit", "offset", "limit", "preferCount"]),
                "responses": {"200": {"description": "OK", "schema": {"items": {"$ref": format!("#/definitions/{}", t.name)}, "type": "array"}}, "206": {"description": "Partial Content"}},
                "tags": [t.name],
            }),
        );
        if t.kind != "m" {
            ops.insert("post".into(), json!({"parameters": [{"$ref": format!("#/parameters/{body}")}, {"$ref": "#/parameters/select"}, {"$ref": "#/parameters/preferReturn"}], "responses": {"201": {"description": "Created"}}, "tags": [t.name]}));
            ops.insert("patch".into(), json!({"parameters": with(&[&body, "preferReturn"]), "responses": {"204": {"description": "No Content"}}, "tags": [t.name]}));
            ops.insert("delete".into(), json!({"parameters": with(&["preferReturn"]), "responses": {"204": {"description": "No Content"}}, "tags": [t.name]}));
        }
        paths.insert(format!("/{}", t.name), Value::Object(ops));
    }
    for f in cache.functions.iter().filter(|f| f.schema == schema) {
        let params = f.params();
        let props: Map<String, Value> = params
            .iter()
            .filter(|p| !p.name.is_empty())
            .map(|p| {
                let (ty, items) = json_type(p.ty);
                let mut m = Map::new();
                m.insert("format".into(), json!(p.ty));
                if !ty.is_empty() {
                    m.insert("type".into(), json!(ty));
                }
                if let Some(items) = items {
                    m.insert("items".into(), items);
                }
                (p.name.to_string(), Value::Object(m))
            })
            .collect();
        let required: Vec<&str> = params
            .iter()
            .filter(|p| !p.optional && !p.name.is_empty())
            .map(|p| p.name)
            .collect();
        let tag = "(rpc) ".to_string() + &f.name;
        paths.insert(
            format!("/rpc/{}", f.name),
            json!({
                "post": {
                    "parameters": [{"in": "body", "name": "args", "required": true, "schema": {"properties": props, "required": required, "type": "object"}}, {"$ref": "#/parameters/preferParams"}],
                    "produces": ["application/json", "application/vnd.pgrst.object+json"],
                    "responses": {"200": {"description": "OK"}},
                    "tags": [tag],
                },
                "get": {
                    "parameters": params.iter().filter(|p| !p.name.is_empty()).map(|p| json!({"name": p.name, "required": !p.optional, "in": "query", "format": p.ty, "type": "string"})).collect::<Vec<_>>(),
                    "responses": {"200": {"description": "OK"}},
                    "tags": [tag],
                },
            }),
        );
    }
    parameters.insert(
        "preferParams".into(),
        json!({"name": "Prefer", "description": "Preference", "required": false, "in": "header", "type": "string", "enum": ["params=single-object"]}),
    );
    json!({
        "swagger": "2.0",
        "info": {"description": "", "title": format!("supalite: schema {schema}"), "version": env!("CARGO_PKG_VERSION")},
        "host": host.unwrap_or("localhost"),
        "basePath": "/",
        "schemes": ["http"],
        "consumes": ["application/json", "application/vnd.pgrst.object+json", "text/csv"],
        "produces": ["application/json", "application/vnd.pgrst.object+json", "text/csv"],
        "paths": paths,
        "definitions": definitions,
        "parameters": parameters,
    })
}
