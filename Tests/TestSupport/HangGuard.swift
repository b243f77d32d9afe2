// The time limit every test that talks to a server or waits on a thread carries.
//
// Swift Testing starts the whole suite's tests at once on the cooperative pool, which has one
// thread per core: two on the CI machine. Black-box tests block those threads in synchronous socket
// reads, sleeps and child-process polls, so a test's wall time includes the time it waited for a
// thread while others ran; under the full suite a 40 s test has ended past 60 s (the CI run of
// 6bbed99, 7 Dec 2026: several tests that started together all ended at 80 s). A limit is a guard
// against a hang, not a speed check (speed is measured by Tools/, BENCHMARKS.md): one generous
// figure, well above the whole suite's run time (about 150 s), so only a real hang trips it.
import Testing

extension Trait where Self == TimeLimitTrait {
    /// Five minutes: a test still running then is hung.
    public static var hangGuard: Self { .timeLimit(.minutes(5)) }
}
