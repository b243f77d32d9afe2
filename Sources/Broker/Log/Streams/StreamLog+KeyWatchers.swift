// The clients blocked in XREADGROUP on a stream's key, told when the key lets go of the stream:
// redis 7.0 answers them `-UNBLOCKED the stream key no longer exists` when the key is deleted,
// overwritten, expired, evicted, flushed, renamed or moved away (signalDeletedKeyAsReady, then
// unblockDeletedStreamReadgroupClients). The key's root holds the stream (StreamStore), so the
// root's release and a rename's hand-over are the one place every such removal passes through,
// whichever command, port or background task caused it. XREAD without a group stays blocked, as
// in redis (a new stream under the key serves it).
//
// Ended waits stay in the list until it has doubled since its last purge (at least
// `keyWatcherPurgeFloor` entries): a registration then drops them all. A purge of C entries
// follows at least C/2 registrations, so N clients blocking on one key cost O(N) under the stream
// lock in all (a purge at every registration cost O(N^2)), and the list holds at most twice the
// waits live at its last purge, or the floor, whatever the churn.

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
            if keyWatchers.count >= keyWatcherPurgeAt {
                keyWatchers.removeAll { !$0.isWaiting }
                keyWatcherPurgeAt = max(Self.keyWatcherPurgeFloor, 2 * keyWatchers.count)
            }
            keyWatchers.append(watcher)
        }
    }

    /// The list's size below which ended waits are left in it.
    static let keyWatcherPurgeFloor = 16

    /// The key let go of this stream: every watcher is told, once.
    func keyLetGo() {
        let watchers = lock.withLock { () -> [any StreamKeyWatcher] in
            // The stream may live on under another key (RENAME, MOVE): its purge starts afresh.
            defer { keyWatchers = []; keyWatcherPurgeAt = Self.keyWatcherPurgeFloor }
            return keyWatchers
        }
        for w in watchers where w.isWaiting { w.streamKeyGone() }
    }
}
