//! `template.yaml` against the code it deploys, so that a route, an alarm or a function added
//! on one side cannot be forgotten on the other:
//!
//! * every route of the API's router (`api::router::ROUTES`) reaches the api function behind the
//!   JWT authorizer, and the webhook and tracking routes reach their functions without it;
//! * every alarm can fire: a custom metric is published with the dimension values the alarm
//!   filters on, and the errors alarm counts every function, quiet ones included;
//! * every function's build (`sam build`) finds its binary, and every binary of a function
//!   crate is deployed by a function.
//!
//! These read files only; no emulator is needed.

use serde_norway::Value;
use std::collections::BTreeSet;

/// The template, parsed. CloudFormation's short forms (`!Ref X`) come back as tagged values.
fn template() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml");
    let text = std::fs::read_to_string(path).expect("template.yaml at the repository root");
    serde_norway::from_str(&text).expect("template.yaml is YAML")
}

/// A value as written in the template: `!Ref Stage` for a tagged value, the text of a string.
fn shown(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Tagged(t) => format!("{} {}", t.tag, shown(&t.value)),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => format!("{other:?}"),
    }
}

fn resources(t: &Value) -> impl Iterator<Item = (String, &Value)> {
    t["Resources"]
        .as_mapping()
        .expect("Resources")
        .iter()
        .map(|(name, r)| (shown(name), r))
}

/// The logical names of the Lambda functions.
fn functions(t: &Value) -> BTreeSet<String> {
    resources(t)
        .filter(|(_, r)| r["Type"] == "AWS::Serverless::Function")
        .map(|(name, _)| name)
        .collect()
}

/// A function's environment variable: its own, else the Globals'.
fn env_var(t: &Value, function: &str, name: &str) -> Option<String> {
    let own = &t["Resources"][function]["Properties"]["Environment"]["Variables"][name];
    let global = &t["Globals"]["Function"]["Environment"]["Variables"][name];
    [own, global].into_iter().find(|v| !v.is_null()).map(shown)
}

/// One `HttpApi` event of a function.
#[derive(Debug)]
struct HttpRoute {
    function: String,
    method: String,
    path: String,
    /// `Auth: { Authorizer: NONE }`: the route skips the API's default (JWT) authorizer.
    open: bool,
}

fn http_routes(t: &Value) -> Vec<HttpRoute> {
    let mut routes = Vec::new();
    for (function, r) in resources(t).filter(|(_, r)| r["Type"] == "AWS::Serverless::Function") {
        let Some(events) = r["Properties"]["Events"].as_mapping() else {
            continue;
        };
        for event in events.values().filter(|e| e["Type"] == "HttpApi") {
            let p = &event["Properties"];
            routes.push(HttpRoute {
                function: function.clone(),
                method: shown(&p["Method"]).to_uppercase(),
                path: shown(&p["Path"]),
                open: p["Auth"]["Authorizer"] == "NONE",
            });
        }
    }
    routes
}

/// Whether an API Gateway route path matches a request path: `{x}` takes one segment, a final
/// `{x+}` one or more.
fn path_matches(route: &str, path: &str) -> bool {
    let want: Vec<&str> = route.trim_start_matches('/').split('/').collect();
    let got: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    for (i, w) in want.iter().enumerate() {
        let greedy = w.starts_with('{') && w.ends_with("+}");
        if greedy {
            return i == want.len() - 1 && got.len() > i && got[i..].iter().all(|s| !s.is_empty());
        }
        match got.get(i) {
            Some(g) if w.starts_with('{') => {
                if g.is_empty() {
                    return false;
                }
            }
            Some(g) if g == w => {}
            _ => return false,
        }
    }
    want.len() == got.len()
}

/// The route API Gateway picks for a request: among the matching ones the most specific (no
/// greedy variable before one, fewer variables before more, a named method before `ANY`).
fn route_for<'a>(routes: &'a [HttpRoute], method: &str, path: &str) -> Option<&'a HttpRoute> {
    routes
        .iter()
        .filter(|r| (r.method == method || r.method == "ANY") && path_matches(&r.path, path))
        .min_by_key(|r| {
            let greedy = r.path.contains("+}");
            let variables = r.path.matches('{').count();
            (greedy, variables, r.method == "ANY")
        })
}

/// A request path for a router template: each `{name}` becomes a sample segment.
fn sample_path(template: &str) -> String {
    template
        .split('/')
        .map(|seg| if seg.starts_with('{') { "x1" } else { seg })
        .collect::<Vec<_>>()
        .join("/")
}

#[test]
fn every_route_of_the_api_router_reaches_the_api_function_behind_the_jwt_authorizer() {
    let t = template();
    let routes = http_routes(&t);
    assert_eq!(
        t["Resources"]["HttpApi"]["Properties"]["Auth"]["DefaultAuthorizer"], "Jwt",
        "routes without `Authorizer: NONE` are the JWT authorizer's"
    );

    for (method, template_path, _) in api::router::ROUTES {
        let path = sample_path(template_path);
        let route = route_for(&routes, method, &path)
            .unwrap_or_else(|| panic!("{method} {template_path} has no route in template.yaml"));
        assert_eq!(
            (route.function.as_str(), route.open),
            ("ApiFunction", false),
            "{method} {template_path} is routed by {route:?}"
        );
    }
}

#[test]
fn webhooks_and_tracking_reach_their_functions_without_the_jwt_authorizer() {
    let routes = http_routes(&template());
    let cases = [
        ("POST", "/webhooks/typeform", "FormWebhookFunction"),
        // A generic source's path has two segments.
        ("POST", "/webhooks/generic/zapier", "FormWebhookFunction"),
        // Meta's subscription handshake.
        ("GET", "/webhooks/meta-leadgen", "FormWebhookFunction"),
        ("POST", "/events", "TrackingFunction"),
    ];
    for (method, path, function) in cases {
        let route = route_for(&routes, method, path)
            .unwrap_or_else(|| panic!("{method} {path} has no route"));
        assert_eq!(
            (route.function.as_str(), route.open),
            (function, true),
            "{method} {path} is routed by {route:?}"
        );
    }
}

#[test]
fn the_api_sees_its_paths_without_the_stage_name_and_the_webhook_sees_the_called_url() {
    let t = template();
    let stage = shown(&t["Resources"]["HttpApi"]["Properties"]["StageName"]);
    assert_ne!(
        stage, "$default",
        "with the default stage no path has a prefix"
    );

    // A named stage prefixes every path (`/prod/leads`); the router knows `/leads`.
    assert!(env_var(&t, "ApiFunction", "AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH").is_some());
    // HubSpot signs the URL it called, stage included.
    assert_eq!(
        env_var(
            &t,
            "FormWebhookFunction",
            "AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH"
        ),
        None
    );
}

/// A metric the functions publish themselves: which function, and which environment variable
/// holds the value of each dimension.
struct CustomMetric {
    namespace: &'static str,
    name: &'static str,
    function: &'static str,
    dimensions: &'static [(&'static str, &'static str)],
    /// The function's `main.rs`, which must read those variables.
    main: &'static str,
}

const CUSTOM_METRICS: &[CustomMetric] = &[CustomMetric {
    namespace: "LeadJourney",
    name: "SlaBreaches",
    function: "SlaTimersFunction",
    dimensions: &[("Stage", "JOURNEY_STAGE")],
    main: include_str!("../../../functions/sla-timers/src/main.rs"),
}];

#[test]
fn every_dimension_an_alarm_filters_on_is_set_in_the_publishing_function_environment() {
    let t = template();
    let alarms = resources(&t).filter(|(_, r)| r["Type"] == "AWS::CloudWatch::Alarm");
    let mut checked = 0;
    for (alarm, r) in alarms {
        let p = &r["Properties"];
        let namespace = shown(&p["Namespace"]);
        if p["Namespace"].is_null() || namespace.starts_with("AWS/") {
            continue;
        }
        let metric = CUSTOM_METRICS
            .iter()
            .find(|m| m.namespace == namespace && m.name == shown(&p["MetricName"]))
            .unwrap_or_else(|| panic!("{alarm}: who publishes {namespace}/{:?}?", p["MetricName"]));
        let filters = p["Dimensions"].as_sequence().cloned().unwrap_or_default();
        for d in &filters {
            let (name, value) = (shown(&d["Name"]), shown(&d["Value"]));
            let (_, var) = metric
                .dimensions
                .iter()
                .find(|(dim, _)| *dim == name)
                .unwrap_or_else(|| panic!("{alarm}: {} has no dimension {name}", metric.name));
            assert!(
                metric.main.contains(&format!("\"{var}\"")),
                "{} does not read {var}",
                metric.function
            );
            assert_eq!(
                env_var(&t, metric.function, var).as_deref(),
                Some(value.as_str()),
                "{alarm} filters on {name} = {value}; {} publishes its {var}",
                metric.function
            );
        }
        checked += 1;
    }
    assert!(checked > 0, "the SLA breach alarm was not found");
}

#[test]
fn the_sla_breach_metric_is_published_with_the_names_the_alarm_watches() {
    let t = template();
    let alarm = &t["Resources"]["SlaBreachAlarm"]["Properties"];
    let report = sla_timers::SweepReport {
        breaches: 1,
        ..Default::default()
    };
    let line = report.breaches_metric("prod", chrono::Utc::now());
    let emf: serde_json::Value = serde_json::from_str(&line).unwrap();
    let declared = &emf["_aws"]["CloudWatchMetrics"][0];

    assert_eq!(declared["Namespace"], shown(&alarm["Namespace"]));
    assert_eq!(declared["Metrics"][0]["Name"], shown(&alarm["MetricName"]));
    let published: BTreeSet<String> = declared["Dimensions"][0]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap().to_owned())
        .collect();
    let filtered: BTreeSet<String> = alarm["Dimensions"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|d| shown(&d["Name"]))
        .collect();
    assert_eq!(published, filtered);
}

#[test]
fn the_errors_alarm_counts_every_function_and_a_quiet_one_does_not_silence_it() {
    let t = template();
    let metrics = t["Resources"]["FunctionErrorsAlarm"]["Properties"]["Metrics"]
        .as_sequence()
        .expect("a metric math alarm");

    let watched: BTreeSet<String> = metrics
        .iter()
        .filter(|m| !m["MetricStat"].is_null())
        .map(|m| {
            let metric = &m["MetricStat"]["Metric"];
            assert_eq!(
                (shown(&metric["Namespace"]), shown(&metric["MetricName"])),
                ("AWS/Lambda".to_owned(), "Errors".to_owned())
            );
            shown(&metric["Dimensions"][0]["Value"])
        })
        .collect();
    let every: BTreeSet<String> = functions(&t).iter().map(|f| format!("!Ref {f}")).collect();
    assert_eq!(watched, every);
    assert!(watched.len() <= 10, "an alarm takes at most 10 metrics");

    // A function without invocations has no datapoint; `a + b` would then be missing.
    let total = metrics.iter().find(|m| m["ReturnData"] == true).unwrap();
    assert!(
        shown(&total["Expression"]).contains("FILL(METRICS(), 0)"),
        "{:?}",
        total["Expression"]
    );
}

#[test]
fn every_function_is_built_from_the_crate_that_has_its_binary() {
    let t = template();
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    for function in functions(&t) {
        let r = &t["Resources"][function.as_str()];
        let binary = shown(&r["Metadata"]["BuildProperties"]["Binary"]);
        let code = [
            &r["Properties"]["CodeUri"],
            &t["Globals"]["Function"]["CodeUri"],
        ]
        .into_iter()
        .find(|v| !v.is_null())
        .map(shown)
        .unwrap_or_else(|| panic!("{function} has no CodeUri"));
        let bins = binaries(&format!("{root}/{code}"))
            .unwrap_or_else(|e| panic!("{function}: no Cargo.toml in {code}: {e}"));
        assert!(
            bins.contains(&binary),
            "{function}: {code} has no binary {binary} (it has {bins:?})"
        );
    }
}

#[test]
fn every_binary_of_a_function_crate_is_deployed_by_a_function() {
    let t = template();
    let deployed: BTreeSet<(String, String)> = functions(&t)
        .iter()
        .map(|f| {
            let r = &t["Resources"][f.as_str()];
            let code = shown(&r["Properties"]["CodeUri"]);
            let binary = shown(&r["Metadata"]["BuildProperties"]["Binary"]);
            (code, binary)
        })
        .collect();

    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let mut seen = 0;
    for entry in std::fs::read_dir(format!("{root}/functions")).unwrap() {
        let dir = entry.unwrap().file_name().to_string_lossy().into_owned();
        let Ok(bins) = binaries(&format!("{root}/functions/{dir}")) else {
            continue;
        };
        for bin in bins {
            let code = format!("functions/{dir}");
            assert!(
                deployed.contains(&(code.clone(), bin.clone())),
                "the binary {bin} of {code} is deployed by no function of template.yaml"
            );
            seen += 1;
        }
    }
    assert_eq!(seen, deployed.len(), "a function deploys a binary twice");
}

/// The `[[bin]]` names of the crate in `dir` (every binary of a function crate is named in its
/// manifest).
fn binaries(dir: &str) -> std::io::Result<BTreeSet<String>> {
    let manifest: toml::Table = std::fs::read_to_string(format!("{dir}/Cargo.toml"))?
        .parse()
        .unwrap();
    Ok(manifest
        .get("bin")
        .and_then(|b| b.as_array())
        .into_iter()
        .flatten()
        .filter_map(|b| b.get("name")?.as_str().map(str::to_owned))
        .collect())
}

#[test]
fn the_route_matcher_prefers_the_more_specific_route() {
    let route = |function: &str, method: &str, path: &str| HttpRoute {
        function: function.into(),
        method: method.into(),
        path: path.into(),
        open: false,
    };
    let routes = [
        route("any", "ANY", "/{proxy+}"),
        route("hooks", "POST", "/webhooks/{provider+}"),
        route("one", "GET", "/leads/{id}"),
        route("exact", "GET", "/leads/export"),
    ];
    let pick = |m: &str, p: &str| route_for(&routes, m, p).map(|r| r.function.as_str());

    assert_eq!(pick("POST", "/webhooks/generic/zap"), Some("hooks"));
    assert_eq!(pick("PUT", "/webhooks/typeform"), Some("any"));
    assert_eq!(pick("GET", "/leads/L1"), Some("one"));
    assert_eq!(pick("GET", "/leads/export"), Some("exact"));
    assert_eq!(pick("GET", "/leads/L1/timeline"), Some("any"));
    assert_eq!(pick("GET", "/"), None, "a greedy variable needs a segment");
}
