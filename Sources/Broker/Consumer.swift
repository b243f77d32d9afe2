// Consumer identities. Open reads and parked readers are recorded under a consumer id: an
// anonymous one per session (a Kestrel or RabbitMQ connection), or the id of a name (a Redis or
// Kafka group member), which every session that names it shares. Names are kept for the broker's
// lifetime, as Redis keeps a group's consumers until they are deleted.

extension Broker {
    /// A fresh anonymous consumer id (ids of names come from the same counter, so none collide).
    public func newConsumerID() -> UInt64 {
        consumers.wrappingAdd(1, ordering: .relaxed).newValue
    }

    /// The id of the consumer called `name`, the same for every session that names it.
    public func consumerID(named name: String) -> UInt64 {
        registry.withLock {
            if let id = consumerNames[name] { return id }
            let id = newConsumerID()
            consumerNames[name] = id
            return id
        }
    }
}
