//! The body of every fuzz target: parse arbitrary bytes as one provider's delivery, then map
//! and normalise whatever comes out. A panic anywhere is a crash; so is a broken invariant.

use form_webhook::{
    normalise::normalise,
    provider::{self, meta, FetchRequest, Headers, Incoming, Item, Provider},
};

/// Runs one provider's parser, and the normalisation after it, on `data`.
pub fn run(provider: Provider, data: &[u8]) {
    let headers = headers(provider);
    let now = chrono::DateTime::from_timestamp(1_741_083_330, 0).unwrap_or_default();
    let req = Incoming {
        method: "POST",
        url: "https://leads.example.org/webhooks/x?token=t",
        path_provider: if provider == Provider::Generic {
            "generic/fuzz"
        } else {
            provider.slug()
        },
        headers: &headers,
        body: data,
        now,
    };
    let Ok(items) = provider::parse(provider, &req) else {
        return;
    };
    for item in items {
        assert!(
            !item.delivery_key().is_empty(),
            "an item without a delivery key"
        );
        if let Item::Submission(e) = item {
            check(&normalise(provider, &e, None, now));
        }
    }
}

/// The Graph API answer parser (Meta's second half).
pub fn run_meta_lead(data: &[u8]) {
    let fetch = FetchRequest {
        delivery_key: "1".into(),
        leadgen_id: "1".into(),
        form_id: None,
        page_id: None,
    };
    let now = chrono::DateTime::from_timestamp(1_741_083_330, 0).unwrap_or_default();
    if let Ok(e) = meta::parse_lead(data, &fetch) {
        check(&normalise(Provider::MetaLeadgen, &e, None, now));
    }
}

fn check(s: &form_webhook::Submission) {
    if let Some(email) = &s.email {
        let text = email.as_str();
        assert_eq!(text, text.trim().to_lowercase(), "e-mail not normalised");
    }
    for v in [&s.name, &s.company, &s.title, &s.source, &s.campaign]
        .into_iter()
        .flatten()
    {
        assert!(!v.trim().is_empty(), "an empty value kept as present");
    }
}

fn headers(provider: Provider) -> Headers {
    let ct = match provider {
        Provider::Jotform => {
            "multipart/form-data; boundary=------------------------9f2c4e61a7b3d805"
        }
        Provider::Unbounce => "application/x-www-form-urlencoded",
        _ => "application/json",
    };
    Headers::new(vec![("Content-Type".to_owned(), ct.to_owned())])
}
