//! An in-memory `JourneyStore` + `Queue` with the commit semantics the ports document (claims,
//! versions, identities, all or nothing). A test double until the embedded store lands; the
//! fixture replay runs against whichever store `support::store()` returns.

use async_trait::async_trait;
use lifecycle::{funnel::CounterKey, Activity, Email, Lead, LeadId, Phone, Timestamp, Transition};
use ports::{
    commit::Identity, Commit, CommitOutcome, Document, DocumentWrite, Expect, JourneyStore,
    Message, Page, Queue, QueueError, StoreError,
};
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

#[derive(Default)]
struct State {
    leads: HashMap<LeadId, Lead>,
    by_email: HashMap<Email, LeadId>,
    by_phone: HashMap<Phone, LeadId>,
    transitions: Vec<Transition>,
    activities: Vec<Activity>,
    counters: HashMap<CounterKey, i64>,
    documents: HashMap<(String, String), Document>,
    claims: HashMap<String, Vec<Message>>,
    sent: Vec<Message>,
}

#[derive(Clone, Default)]
pub struct MemoryStore {
    state: Arc<Mutex<State>>,
}

impl MemoryStore {
    pub fn lead_count(&self) -> usize {
        self.state.lock().unwrap().leads.len()
    }
    pub fn activities_all(&self) -> Vec<Activity> {
        self.state.lock().unwrap().activities.clone()
    }
    pub fn transitions_all(&self) -> Vec<Transition> {
        self.state.lock().unwrap().transitions.clone()
    }
    pub fn sent(&self) -> Vec<Message> {
        self.state.lock().unwrap().sent.clone()
    }
    pub fn document(&self, collection: &str, key: &str) -> Option<Document> {
        let s = self.state.lock().unwrap();
        s.documents
            .get(&(collection.to_owned(), key.to_owned()))
            .cloned()
    }
    pub fn all_leads(&self) -> Vec<Lead> {
        self.state.lock().unwrap().leads.values().cloned().collect()
    }
}

fn check(s: &State, c: &Commit) -> Option<String> {
    if let Some(w) = &c.lead {
        let stored = s.leads.get(&w.lead.id).map(|l| l.version);
        let ok = match w.expect {
            Expect::Absent => stored.is_none(),
            Expect::Version(v) => stored == Some(v),
            Expect::Any => true,
        };
        if !ok {
            return Some(format!("lead {}", w.lead.id));
        }
        for id in &w.new_identities {
            let owner = match id {
                Identity::Email(e) => s.by_email.get(e),
                Identity::Phone(p) => s.by_phone.get(p),
            };
            if owner.is_some_and(|o| *o != w.lead.id) {
                return Some("identity".to_owned());
            }
        }
    }
    for d in &c.documents {
        let (col, key) = d.target();
        let stored = s.documents.get(&(col.to_owned(), key.to_owned()));
        let expect = match d {
            DocumentWrite::Put { expect, .. } | DocumentWrite::Delete { expect, .. } => *expect,
        };
        let ok = match expect {
            Expect::Absent => stored.is_none(),
            Expect::Version(v) => stored.map(|d| d.version) == Some(v),
            Expect::Any => true,
        };
        if !ok {
            return Some(format!("document {col}/{key}"));
        }
    }
    None
}

#[async_trait]
impl JourneyStore for MemoryStore {
    async fn lead(&self, id: &LeadId) -> Result<Option<Lead>, StoreError> {
        Ok(self.state.lock().unwrap().leads.get(id).cloned())
    }
    async fn lead_by_email(&self, email: &Email) -> Result<Option<Lead>, StoreError> {
        let s = self.state.lock().unwrap();
        Ok(s.by_email
            .get(email)
            .and_then(|id| s.leads.get(id))
            .cloned())
    }
    async fn lead_by_phone(&self, phone: &Phone) -> Result<Option<Lead>, StoreError> {
        let s = self.state.lock().unwrap();
        Ok(s.by_phone
            .get(phone)
            .and_then(|id| s.leads.get(id))
            .cloned())
    }
    async fn transitions(&self, id: &LeadId) -> Result<Vec<Transition>, StoreError> {
        let s = self.state.lock().unwrap();
        Ok(s.transitions
            .iter()
            .filter(|t| &t.lead_id == id)
            .cloned()
            .collect())
    }
    async fn activities(&self, id: &LeadId) -> Result<Vec<Activity>, StoreError> {
        let s = self.state.lock().unwrap();
        Ok(s.activities
            .iter()
            .filter(|a| &a.lead_id == id)
            .cloned()
            .collect())
    }
    async fn transitions_recorded(
        &self,
        from: Timestamp,
        to: Timestamp,
        _cursor: Option<String>,
        _limit: usize,
    ) -> Result<Page<Transition>, StoreError> {
        let s = self.state.lock().unwrap();
        let items = s
            .transitions
            .iter()
            .filter(|t| t.recorded_at >= from && t.recorded_at < to)
            .cloned()
            .collect();
        Ok(Page { items, next: None })
    }
    async fn leads(
        &self,
        _cursor: Option<String>,
        _limit: usize,
    ) -> Result<Page<Lead>, StoreError> {
        Ok(Page {
            items: self.all_leads(),
            next: None,
        })
    }
    async fn counter(&self, key: &CounterKey) -> Result<i64, StoreError> {
        Ok(*self.state.lock().unwrap().counters.get(key).unwrap_or(&0))
    }
    async fn commit(&self, c: Commit) -> Result<CommitOutcome, StoreError> {
        let mut s = self.state.lock().unwrap();
        for claim in &c.claims {
            if let Some(outbox) = s.claims.get(&claim.key) {
                return Ok(CommitOutcome::Duplicate {
                    key: claim.key.clone(),
                    outbox: outbox.clone(),
                });
            }
        }
        if let Some(what) = check(&s, &c) {
            return Ok(CommitOutcome::Conflict { what });
        }
        for claim in &c.claims {
            s.claims.insert(claim.key.clone(), c.outbox.clone());
        }
        if let Some(w) = c.lead {
            for id in &w.new_identities {
                match id {
                    Identity::Email(e) => s.by_email.insert(e.clone(), w.lead.id.clone()),
                    Identity::Phone(p) => s.by_phone.insert(p.clone(), w.lead.id.clone()),
                };
            }
            s.leads.insert(w.lead.id.clone(), w.lead);
        }
        s.transitions.extend(c.transitions);
        s.activities.extend(c.activities);
        for d in c.counters {
            *s.counters.entry(d.key).or_insert(0) += d.delta;
        }
        for d in c.documents {
            match d {
                DocumentWrite::Put { doc, .. } => {
                    s.documents
                        .insert((doc.collection.clone(), doc.key.clone()), doc);
                }
                DocumentWrite::Delete {
                    collection, key, ..
                } => {
                    s.documents.remove(&(collection, key));
                }
            }
        }
        s.sent.extend(c.outbox);
        Ok(CommitOutcome::Committed)
    }
}

#[async_trait]
impl Queue for MemoryStore {
    async fn send(&self, messages: &[Message]) -> Result<(), QueueError> {
        self.state.lock().unwrap().sent.extend_from_slice(messages);
        Ok(())
    }
}
