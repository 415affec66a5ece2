// Package cutover is the cut-over gate: it stands between "gh-ost has copied the table and is
// postponing the cut-over" and the atomic rename, and opens only when every condition holds at
// the same check:
//
//  1. engine: the engine says the copy is complete, and its binlog backlog is under the limit;
//  2. window: replica lag, Threads_running and the query rate against its own recent baseline
//     are under their limits;
//  3. blockers: no transaction older than the limit and no metadata-lock waiter stands in the way
//     of the rename (named, with their age);
//  4. checksum: the original and the ghost table agree, chunk by chunk over the primary key,
//     while writers write and gh-ost keeps applying the binlog: each chunk is compared at one
//     binlog position, once the engine has applied the binlog through it (checksum_compare.go);
//  5. participants: every live service instance registered for the table acknowledged prepare;
//  6. approval: automatic, manual (Approve), or inside a daily time window.
//
// The conditions are re-checked continuously and exposed as a Checklist (one Line per condition,
// with value, limit and who or what blocks) that the API and the TUI show. Participants take part
// in a two-phase protocol over package wire (prepare → commit | abort): a Registry keeps their
// leased registrations, delivers phases over signed HTTP or a signal, and serves the participant
// endpoints of the API. Every decision goes to an EventSink (the store's event log).
//
// The gate never runs DDL: the rename is the engine's. A Gate is built per migration from an
// immutable Config; the runner calls Await, renames when it returns nil, and reports the outcome
// with Finish so that participants learn commit or abort.
package cutover
