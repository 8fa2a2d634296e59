//! Helpers shared by the integration tests.
#![allow(dead_code)]
#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]

use std::sync::Arc;

use sseek::blind::{default_index_specs, planner::plan_for_corpus};
use sseek::client::Client;
use sseek::keys::MasterKey;
use sseek::message::{Message, Terms};
use sseek::oracle::PlainIndex;
use sseek::protocol::IndexDescriptor;
use sseek::server::Server;
use sseek::store::Store;
use sseek::text::Tokenizer;
use sseek::transport::InProcess;

/// A client over an in-process server on `store`, with the given index descriptors, holding `msgs`.
pub fn client_with<S: Store + 'static>(
    store: S,
    msgs: &[Message],
    descriptors: Option<Vec<IndexDescriptor>>,
) -> (Client<InProcess<S>>, PlainIndex) {
    let server = Arc::new(Server::new(store));
    let mut client =
        Client::connect(MasterKey::generate().unwrap(), "t", InProcess::new(server, "t"), Tokenizer::default())
            .unwrap();
    let terms: Vec<Terms> = client.terms(msgs);
    let descriptors = descriptors.unwrap_or_else(|| {
        plan_for_corpus(&terms, &default_index_specs(), 5.0, 2.0, 1.0).into_iter().map(|(d, _)| d).collect()
    });
    client.create_schema(descriptors).unwrap();
    client.add_messages_with_terms(msgs, &terms, None).unwrap();
    let mut oracle = PlainIndex::new();
    for (i, t) in terms.iter().enumerate() {
        oracle.add(i as u32, t);
    }
    (client, oracle)
}
