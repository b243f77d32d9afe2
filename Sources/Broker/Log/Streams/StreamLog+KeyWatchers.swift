// The clients blocked in XREADGROUP on a stream's key, told when the key lets go of the stream:
// redis 7.0 answers them `-UNBLOCKED the stream key no longer exists` when the key is deleted,
// overwritten, expired, evicted, flushed, renamed or moved away (signalDeletedKeyAsReady, then
// unblockDeletedStreamReadgroupClients). The key's root holds the stream (StreamStore), so the
// root's release and a rename's hand-over are the one place every such removal passes through,
// whichever command, port or background task caused it. XREAD without a group stays blocked, as
// in redis (a new stream under the key serves it).
//
// The list is purged of ended waits at each registration, so it holds at most the live ones and
// one more per ended wait since the last registration.

/// A client blocked on the key holding a stream.
public protocol StreamKeyWatcher: AnyObject, Sendable {
    /// Still blocked: nothing has served, woken or cancelled it.
    var isWaiting: Bool { get }
    /// The key no longer holds the stream. Called with no stream lock held, possibly under the
    /// engine's item lock (from the root's release): it must take no engine lock.
    func streamKeyGone()
}

extension StreamLog {
    /// Registers a blocked client on this stream's key.
    public func watchKey(_ watcher: any StreamKeyWatcher) {
        lock.withLock {
            keyWatchers.removeAll { !$0.isWaiting }
            keyWatchers.append(watcher)
        }
    }

    /// The key let go of this stream: every watcher is told, once.
    func keyLetGo() {
        let watchers = lock.withLock { () -> [any StreamKeyWatcher] in
            defer { keyWatchers = [] }
            return keyWatchers
        }
        for w in watchers { w.streamKeyGone() }
    }
}
