// Package watchcache is the per-resource watch cache: a storage.Interface
// for the keys under one prefix (such as "/registry/configmaps/") that
// serves watches and resourceVersion=0 lists from memory and hands every
// other call to the backend it wraps, like kube-apiserver's Cacher.
//
// A Cache lists its prefix from the backend at one revision and watches from
// there with a single backend watch. It keeps the current state (every key,
// sorted, with the backend's value slices) and a ring of the latest events,
// at most Options.History of them and Options.HistoryBytes bytes, and fans
// each event out to its watchers.
//
// # Guarantees
//
// Each line names the test that holds the cache to it; TestContract runs the
// shared storagetest suite against a cache over bolt on top of these.
//
//   - [x] Writes, Get, Count, CurrentRevision, Compact and CompactedRevision
//     are the backend's; so is every List without Stale, and every List or
//     Watch of a prefix outside the cache's. (TestContract,
//     TestSubPrefixAndOutside)
//   - [x] A Stale List (resourceVersion=0) of a prefix under the cache's is
//     answered from memory, FromCache set, at the cache's revision, in key
//     order, honouring Limit; its continue token is answered from memory
//     while the cache is at the token's revision, by the backend after.
//     (TestStaleList)
//   - [x] Read your writes: a Stale List and an InitialState watch wait until
//     the cache has seen every write made through it. (TestStaleListReadsOwnWrites,
//     TestInitialState)
//   - [x] A watch from revision R gets every event under its prefix above R,
//     in order, with no gap and no duplicate between history and live
//     events. R zero starts after the latest revision the cache has seen or
//     written. (TestWatchWindow, TestContract/WatchFromRevision)
//   - [x] R is served while the cache knows every event above it: R at or
//     above the revision the history starts after, which counts revisions
//     that changed nothing under the prefix. Below it, or below the
//     backend's compacted revision: storage.ErrCompacted. (TestWatchWindow,
//     TestWatchWindowAtStart, TestWatchCompactedBackend)
//   - [x] The history holds at most Options.History events and
//     Options.HistoryBytes bytes, counting each event's key, value and
//     previous value; the oldest go first, and an event larger than the
//     byte bound alone is not kept. A watch from a revision they took with
//     them gets storage.ErrCompacted. (TestHistoryBytes,
//     TestHistoryEventLargerThanBound)
//   - [x] R above what the cache has seen is accepted if the backend has
//     reached it, and its events follow as the cache sees them; above the
//     backend's revision it is storage.ErrFutureRevision.
//     (TestWatchAheadOfCache)
//   - [x] InitialState: one created EventPut per key at its ModRevision, in
//     key order, then an EventBookmark with InitialEventsEnd at the snapshot
//     revision S, then every event after S. (TestInitialState)
//   - [x] ProgressNotify: an EventBookmark at the cache's revision every
//     ProgressInterval to a watcher that got nothing in the interval.
//     (TestProgressNotify)
//   - [x] A slow watcher never blocks the fan-out or writers, and holds at
//     most Options.WatchBuffer events and Options.WatchBufferBytes bytes
//     for its reader (or one event larger than that): when its queue fills
//     it is fed from the history at its own pace, and rejoins the fan-out
//     once caught up. Once the history moves past it, it is ended at once:
//     what it had queued is dropped, and after the event it was handing
//     over, if any, EventError(storage.ErrCompacted) is its last event.
//     (TestSlowWatcher, TestSlowWatcherCatchesUp, TestWatchBufferBytes,
//     TestWatchBufferBytesStartBehind)
//   - [x] A failed backend watch is reopened at the cache's revision; if the
//     backend compacted that away the cache lists again, and reads that
//     need it wait meanwhile. If the list shows a change, the history is
//     dropped and live watchers end with storage.ErrCompacted; if not,
//     nothing is lost. (TestRewatch, TestRelist, TestRelistUnchanged)
//   - [x] WaitFresh(R) returns once the cache has seen R, or
//     storage.ErrFutureRevision if the backend has not reached R.
//     (TestWaitFresh)
//   - [x] Stop, context cancellation and Close close the watcher's channel
//     whether it is live or catching up; Close joins every goroutine and
//     later calls give storage.ErrUnavailable. (TestStopCancelClose)
//
// # Sharing and accounting
//
// Values are never copied: the state, the history, every watcher's events
// and every page of a Stale List share the backend's byte slices. Readers
// must not modify them. Cache.Stats reports the bytes the history and the
// watchers hold as the bounds count them, each value wherever it is held:
// an upper bound of the memory they keep alive.
//
// # Goroutines
//
// A Cache runs one goroutine, which applies backend events, fans them out
// and ticks progress bookmarks. The fan-out never blocks: it hands an event
// to a reader that is waiting for one, and queues it otherwise. Every
// watcher has a goroutine that hands its queued events to its reader over
// an unbuffered channel, so that a queued event is one the reader has not
// received, and that queues the next events from the history while the
// watcher is behind. Close waits for them all.
package watchcache
