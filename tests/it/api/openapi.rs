//! The OpenAPI document and the server agree: every operation succeeds with a request built
//! from the document's examples (ids fed through its `links`), every constraint the document
//! declares is enforced (a request violating it answers 400 naming the field), and every link
//! resolves. The violations are generated from the schema keywords themselves, so a constraint
//! added to the document is tested without touching this file (an unknown keyword fails).

use std::collections::{BTreeSet, HashMap};

use super::*;

struct Doc(Value);

struct Op {
    id: String,
    method: Method,
    path: String,
    params: Vec<Value>,
    op: Value,
}

impl Doc {
    fn resolve<'a>(&'a self, v: &'a Value) -> &'a Value {
        match v["$ref"].as_str() {
            Some(r) => {
                let pointer = r.trim_start_matches('#');
                self.resolve(
                    self.0
                        .pointer(pointer)
                        .unwrap_or_else(|| panic!("dangling {r}")),
                )
            }
            None => v,
        }
    }

    fn ops(&self) -> Vec<Op> {
        let mut out = Vec::new();
        for (path, item) in self.0["paths"].as_object().expect("paths") {
            let shared = item["parameters"].as_array().cloned().unwrap_or_default();
            for (m, op) in item.as_object().expect("path item") {
                if m == "parameters" {
                    continue;
                }
                let mut params: Vec<Value> =
                    shared.iter().map(|p| self.resolve(p).clone()).collect();
                for p in op["parameters"].as_array().cloned().unwrap_or_default() {
                    params.push(self.resolve(&p).clone());
                }
                out.push(Op {
                    id: op["operationId"].as_str().expect("operationId").to_owned(),
                    method: m.to_ascii_uppercase().parse().expect("method"),
                    path: path.clone(),
                    params,
                    op: op.clone(),
                });
            }
        }
        out
    }

    fn body_schema(&self, op: &Op) -> Option<Value> {
        let s = &op.op["requestBody"]["content"]["application/json"]["schema"];
        (!s.is_null()).then(|| self.resolve(s).clone())
    }
}

impl Op {
    fn url(&self, path_params: &HashMap<String, String>, query: &[(String, String)]) -> String {
        let mut url = self.path.clone();
        for (k, v) in path_params {
            url = url.replace(&format!("{{{k}}}"), v);
        }
        assert!(
            !url.contains('{'),
            "{} needs more path parameters: {url}",
            self.id
        );
        if !query.is_empty() {
            let qs: Vec<String> = query
                .iter()
                .map(|(k, v)| {
                    format!(
                        "{k}={}",
                        url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()
                    )
                })
                .collect();
            url = format!("{url}?{}", qs.join("&"));
        }
        url
    }

    fn declares(&self, status: StatusCode) -> bool {
        self.op["responses"].get(status.as_str()).is_some()
    }
}

/// A value breaking `keyword` of `schema` (a property's schema), given a valid `example`.
fn violation(keyword: &str, schema: &Value, example: &Value) -> Option<Value> {
    Some(match keyword {
        "type" => match schema["type"].as_str().expect("type") {
            "string" => json!(12345),
            "integer" | "number" | "boolean" | "array" | "object" => json!("not of this type"),
            other => panic!("no violation for type {other}"),
        },
        "maxLength" => {
            let n = schema["maxLength"].as_u64().expect("maxLength") as usize;
            let base = example.as_str().expect("a string example");
            json!(format!("{base}{}", "a".repeat(n + 1 - base.len().min(n))))
        }
        "pattern" => json!("not a valid value!"),
        "enum" => json!("not-in-the-enum"),
        "format" => match schema["format"].as_str().expect("format") {
            "uuid" => json!("not-a-uuid"),
            "date-time" => json!("not-a-time"),
            other => panic!("no violation for format {other}"),
        },
        "maxProperties" => {
            let n = schema["maxProperties"].as_u64().expect("maxProperties");
            json!((0..=n)
                .map(|i| (format!("X-P{i}"), json!("v")))
                .collect::<serde_json::Map<String, Value>>())
        }
        // A value of the wrong type (the values' schema is a string's).
        "additionalProperties" => json!({ "X-Wrong-Type": 12345 }),
        "minimum" => json!(schema["minimum"].as_i64().expect("minimum") - 1),
        // `exclusiveMinimum: true` (OpenAPI 3.0): the minimum itself.
        "exclusiveMinimum" => schema["minimum"].clone(),
        "maximum" => json!(schema["maximum"].as_i64().expect("maximum") + 1),
        // Not constraints.
        "description" | "default" | "example" | "nullable" | "items" => return None,
        other => panic!("no violation generator for keyword {other:?}: teach this test"),
    })
}

/// Every (what, value) that breaks a property: its own keywords, its items' keywords (as a
/// one-item array), and null when it is not nullable.
fn property_violations(schema: &Value, example: &Value) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for k in schema.as_object().expect("schema").keys() {
        if let Some(v) = violation(k, schema, example) {
            out.push((k.clone(), v));
        }
    }
    if let Some(items) = schema.get("items") {
        let item_example = example.get(0).cloned().unwrap_or(json!("x"));
        for k in items.as_object().expect("items").keys() {
            if let Some(v) = violation(k, items, &item_example) {
                out.push((format!("items.{k}"), json!([v])));
            }
        }
    }
    if schema["nullable"] != true {
        out.push(("nullable".into(), Value::Null));
    }
    out
}

fn names(field: &Value, name: &str) -> bool {
    field.as_str().is_some_and(|f| {
        f == name || f.starts_with(&format!("{name}[")) || f.starts_with(&format!("{name}."))
    })
}

/// Follows a link expression against the request's path parameters and the response body.
fn follow(expr: &str, request_path: &HashMap<String, String>, body: &Value) -> Option<String> {
    if let Some(name) = expr.strip_prefix("$request.path.") {
        return request_path.get(name).cloned();
    }
    let pointer = expr
        .strip_prefix("$response.body#")
        .unwrap_or_else(|| panic!("expression {expr}"));
    body.pointer(pointer)
        .and_then(|v| v.as_str())
        .map(str::to_owned)
}

/// Does `pointer` name something the response schema has? (`allOf` members count.)
fn schema_has(doc: &Doc, schema: &Value, pointer: &str) -> bool {
    let parts: Vec<&str> = pointer
        .trim_start_matches('/')
        .split('/')
        .filter(|p| !p.is_empty())
        .collect();
    has(doc, doc.resolve(schema), &parts)
}

fn has(doc: &Doc, s: &Value, parts: &[&str]) -> bool {
    let Some((first, rest)) = parts.split_first() else {
        return !s.is_null();
    };
    if let Some(all) = s["allOf"].as_array() {
        return all.iter().any(|m| has(doc, doc.resolve(m), parts));
    }
    let next = if first.parse::<usize>().is_ok() {
        &s["items"]
    } else {
        &s["properties"][*first]
    };
    !next.is_null() && has(doc, doc.resolve(next), rest)
}

#[tokio::test]
async fn openapi_examples_succeed_declared_constraints_are_enforced_and_links_resolve() {
    let api = TestApi::start().await;
    api.set_ready();
    let doc = Doc(api.get("/v1/openapi.json").await.json());
    let ops = doc.ops();
    let by_id: HashMap<&str, &Op> = ops.iter().map(|o| (o.id.as_str(), o)).collect();
    let mut succeeded: BTreeSet<String> = BTreeSet::new();

    // Links resolve: the target exists and has the parameter; each expression names a path
    // parameter of the source or a field of its response schema.
    for op in &ops {
        for (status, res) in op.op["responses"].as_object().expect("responses") {
            let res = doc.resolve(res);
            for (name, link) in res["links"].as_object().into_iter().flatten() {
                let target = by_id
                    .get(link["operationId"].as_str().expect("operationId"))
                    .unwrap_or_else(|| panic!("link {name} of {} names no operation", op.id));
                for (param, expr) in link["parameters"].as_object().expect("parameters") {
                    assert!(
                        target.params.iter().any(|p| p["name"] == param.as_str()),
                        "link {name}: {} has no parameter {param}",
                        target.id
                    );
                    let expr = expr.as_str().expect("expression");
                    let ok = match expr.strip_prefix("$request.path.") {
                        Some(p) => op
                            .params
                            .iter()
                            .any(|x| x["name"] == p && x["in"] == "path"),
                        None => {
                            let schema = &res["content"]["application/json"]["schema"];
                            schema_has(&doc, schema, expr.trim_start_matches("$response.body#"))
                        }
                    };
                    assert!(
                        ok,
                        "link {name} of {} {status}: {expr} resolves to nothing",
                        op.id
                    );
                }
            }
        }
    }

    // Examples succeed, in the order the links need.
    let example = |id: &str| {
        let op = by_id[id];
        doc.body_schema(op)
            .map(|s| s["example"].clone())
            .unwrap_or(Value::Null)
    };
    let server = &api;
    let call =
        |op: &Op, path: &HashMap<String, String>, query: &[(String, String)], body: Value| {
            let url = op.url(path, query);
            let body = (!body.is_null()).then_some(body);
            let method = op.method.clone();
            async move { server.call(method, &url, body).await }
        };
    let succeed = |id: &str, a: &Answer| {
        let op = by_id[id];
        assert!(
            a.status.is_success(),
            "{id} with its example: {} {}",
            a.status,
            a.text
        );
        assert!(
            op.declares(a.status),
            "{id} answered {}, which it does not declare",
            a.status
        );
    };
    let none = HashMap::new();
    for id in ["healthz", "readyz", "metrics", "openapi", "listEventTypes"] {
        let a = call(by_id[id], &none, &[], Value::Null).await;
        succeed(id, &a);
        succeeded.insert(id.to_owned());
    }
    // The operation `id` with its example body.
    let with_example = |id: &str, path| call(by_id[id], path, &[], example(id));
    let a = with_example("registerEventType", &none).await;
    succeed("registerEventType", &a);
    succeeded.insert("registerEventType".into());
    let emit = example("emitEvent");
    let user = emit["user_id"]
        .as_str()
        .expect("the emit example names a user")
        .to_owned();
    let user_path: HashMap<String, String> = [("user_id".to_owned(), user.clone())].into();
    for id in [
        "listWebhooks",
        "grantPlatformManager",
        "revokePlatformManager",
    ] {
        let a = call(by_id[id], &user_path, &[], Value::Null).await;
        succeed(id, &a);
        succeeded.insert(id.to_owned());
    }
    let created = with_example("createWebhook", &user_path).await;
    succeed("createWebhook", &created);
    succeeded.insert("createWebhook".into());
    let created_body = created.json();
    let a = call(by_id["emitEvent"], &none, &[], emit.clone()).await;
    succeed("emitEvent", &a);
    succeeded.insert("emitEvent".into());

    let links = doc.resolve(&by_id["createWebhook"].op["responses"]["201"])["links"].clone();
    let mut order: Vec<(&String, &Value)> = links.as_object().expect("links").iter().collect();
    order.sort_by_key(|(_, l)| l["operationId"] == "deleteWebhook");
    let mut webhook_path = HashMap::new();
    for (name, link) in order {
        let target = by_id[link["operationId"].as_str().expect("id")];
        let mut path = HashMap::new();
        for (param, expr) in link["parameters"].as_object().expect("parameters") {
            let v = follow(expr.as_str().expect("expr"), &user_path, &created_body)
                .unwrap_or_else(|| panic!("link {name} gives no {param}"));
            path.insert(param.clone(), v);
        }
        webhook_path = path.clone();
        let a = call(target, &path, &[], example(&target.id)).await;
        succeed(&target.id, &a);
        succeeded.insert(target.id.clone());
        if target.id == "listDeliveries" {
            let listed = a.json();
            let retry_link = &doc.resolve(&target.op["responses"]["200"])["links"]["RetryDelivery"];
            let id = follow(
                retry_link["parameters"]["delivery_id"]
                    .as_str()
                    .expect("expr"),
                &path,
                &listed,
            )
            .expect("the emitted event's delivery is listed");
            let retry = by_id["retryDelivery"];
            let a = call(
                retry,
                &[("delivery_id".to_owned(), id)].into(),
                &[],
                Value::Null,
            )
            .await;
            succeed("retryDelivery", &a);
            succeeded.insert("retryDelivery".into());
        }
    }
    let all: BTreeSet<String> = ops.iter().map(|o| o.id.clone()).collect();
    assert_eq!(succeeded, all, "every operation ran with its example");

    // Every declared constraint is enforced: 400 naming the field, for body fields, path and
    // query parameters. The webhook deleted above is re-created for the requests that need one.
    let again = call(
        by_id["createWebhook"],
        &user_path,
        &[],
        example("createWebhook"),
    )
    .await
    .json();
    webhook_path.insert(
        "webhook_id".into(),
        again["id"].as_str().expect("id").to_owned(),
    );
    webhook_path.insert("user_id".into(), user.clone());
    webhook_path.insert("delivery_id".into(), Uuid::new_v4().to_string());
    let mut checked = 0;
    let refused = |id: &str, what: &str, field: &str, a: &Answer| {
        assert_eq!(
            a.status,
            StatusCode::BAD_REQUEST,
            "{id}: {what} was not refused: {}",
            a.text
        );
        assert!(
            by_id[id].declares(StatusCode::BAD_REQUEST),
            "{id} does not declare 400"
        );
        let body = a.json();
        assert!(
            body["error"]["code"].is_string() && body["error"]["message"].is_string(),
            "{}",
            a.text
        );
        assert!(
            names(&body["error"]["field"], field),
            "{id}: {what}: the answer names {} not {field}: {}",
            body["error"]["field"],
            a.text
        );
    };
    for op in &ops {
        let valid = example(&op.id);
        if let Some(schema) = doc.body_schema(op) {
            let props = schema["properties"].as_object().expect("properties");
            for (prop, prop_schema) in props {
                let prop_schema = doc.resolve(prop_schema);
                let prop_example = valid.get(prop).cloned().unwrap_or(Value::Null);
                for (what, bad) in property_violations(prop_schema, &prop_example) {
                    let mut body = valid.clone();
                    body[prop.as_str()] = bad;
                    let a = call(op, &webhook_path, &[], body).await;
                    refused(&op.id, &format!("{prop}: {what}"), prop, &a);
                    checked += 1;
                }
            }
            for required in schema["required"].as_array().into_iter().flatten() {
                let name = required.as_str().expect("name");
                let mut body = valid.clone();
                body.as_object_mut().expect("object example").remove(name);
                let a = call(op, &webhook_path, &[], body).await;
                refused(&op.id, &format!("{name}: required"), name, &a);
                checked += 1;
            }
            if schema["additionalProperties"] == false {
                let mut body = valid.clone();
                body["unexpected_field"] = json!(1);
                let a = call(op, &webhook_path, &[], body).await;
                refused(&op.id, "additionalProperties", "unexpected_field", &a);
                checked += 1;
            }
        }
        for p in &op.params {
            let name = p["name"].as_str().expect("name");
            let schema = &p["schema"];
            let base = match name {
                "event_type" => json!("order.created"),
                _ => Value::Null,
            };
            for k in schema.as_object().expect("schema").keys() {
                let Some(bad) = violation(k, schema, &base) else {
                    continue;
                };
                if bad.is_number() && schema["type"] == "string" {
                    continue; // a path or query value is always text
                }
                let text = bad.as_str().map_or_else(|| bad.to_string(), str::to_owned);
                let (path, query) = if p["in"] == "path" {
                    let mut path = webhook_path.clone();
                    path.insert(name.to_owned(), text);
                    (path, vec![])
                } else {
                    (webhook_path.clone(), vec![(name.to_owned(), text)])
                };
                let body = doc
                    .body_schema(op)
                    .map(|_| valid.clone())
                    .unwrap_or(Value::Null);
                let a = call(op, &path, &query, body).await;
                refused(&op.id, &format!("parameter {name}: {k}"), name, &a);
                checked += 1;
            }
        }
    }
    eprintln!("openapi: {checked} declared constraints checked");
    assert!(checked > 60, "only {checked} constraints checked");
    assert_eq!(
        count(&api.sql, "select count(*) from herald.events").await,
        1,
        "no refused request wrote an event"
    );
    api.stop().await;
}
