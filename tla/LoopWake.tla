----------------------------- MODULE LoopWake -----------------------------
\* The loop's sleep/wake handshake: loop/wake_gate.hpp (WakeGate) as used by
\* loop/event_loop.hpp (EventLoop::sleep_until_work, LoopCore::post /
\* wake_if_sleeping), action by action.
\*
\* ABSTRACTIONS (read before trusting a green run)
\*  * The inbox is a FIFO of item ids and a push is ONE atomic step. The inbox
\*    itself (Vyukov MPSC + close) is verified by MpscInbox.tla; here only its
\*    linearizable contract matters: after push's tail exchange, the loop's
\*    consumer_sees_empty() is false. close(), stop_requested, timers and fd
\*    events are not modelled (stop_requested is one more Dekker flag of the same
\*    shape as the inbox).
\*  * Sequentially consistent memory (the code uses seq_cst throughout; Relacy,
\*    tests/model/wake_gate_model.cpp, checks the real header).
\*  * The spin phase of sleep_until_work() is a repetition of the same emptiness
\*    check as the pop loop's last pop(): not modelled separately.
\*  * The eventfd is a counter: a write adds 1, epoll_wait + read consume it all.
\*  * Finite without an explicit bound: every cancelled sleep is followed by a pop
\*    of an item, and every completed sleep consumed >= 1 signal; signals <= items.
\*    The loop never exits: it ends blocked in epoll_wait with efd = 0 once all is
\*    consumed (Terminating), which is the idle state of the real loop.
\*
\* Single module on purpose (tla-checker ignores EXTENDS of user modules).

EXTENDS Naturals, Sequences

CONSTANTS
  Items, \* Items[p]: how many items producer p pushes (LoopCore::post calls)
  BUG    \* "none" = the code as written; "norecheck" = HANDOFF_MUTANT_WAKE_NO_RECHECK

NP == Len(Items)
Producers == 1..NP
ASSUME /\ NP \in 1..3 /\ \A p \in Producers : Items[p] \in 1..3
       /\ BUG \in {"none", "norecheck"}

ItemId(p, k) == 3 * (p - 1) + k          \* item k of producer p
Total == IF NP = 1 THEN Items[1]
         ELSE IF NP = 2 THEN Items[1] + Items[2]
         ELSE Items[1] + Items[2] + Items[3]

AWAKE == "AWAKE"
SLEEPING == "SLEEPING"

VARIABLES
  inbox,     \* the MPSC inbox, abstracted: a FIFO of item ids
  gate,      \* WakeGate::state_
  efd,       \* the wake eventfd's counter
  ppc,       \* producer pc
  pushed,    \* pushed[p]: how many items producer p has pushed
  lpc,       \* loop pc
  consumed,  \* items the loop has popped
  sleeps,    \* announced sleeps (announce_sleep calls)
  signals,   \* eventfd writes (wake_signals)
  claimed    \* last cancel_sleep()/finish_sleep() result: a producer had claimed the sleep

vars == <<inbox, gate, efd, ppc, pushed, lpc, consumed, sleeps, signals, claimed>>

PLabels == {"push", "claim_load", "claim_xchg", "write", "done"}
LLabels == {"pop", "announce", "recheck", "cancel", "block", "finish"}

Init ==
  /\ inbox = <<>>
  /\ gate = AWAKE
  /\ efd = 0
  /\ ppc = [p \in Producers |-> "push"]
  /\ pushed = [p \in Producers |-> 0]
  /\ lpc = "pop"
  /\ consumed = 0
  /\ sleeps = 0
  /\ signals = 0
  /\ claimed = FALSE

-----------------------------------------------------------------------------
\* Producer p: LoopCore::post = inbox push (one atomic step), then
\* wake_if_sleeping: claim_wake (load; if SLEEPING, exchange to AWAKE), then
\* write(eventfd) if the exchange returned SLEEPING.

NextPushOrDone(p) == IF pushed[p] < Items[p] THEN "push" ELSE "done"

Push(p) ==
  /\ inbox' = Append(inbox, ItemId(p, pushed[p] + 1))
  /\ pushed' = [pushed EXCEPT ![p] = @ + 1]
  /\ ppc' = [ppc EXCEPT ![p] = "claim_load"]
  /\ UNCHANGED <<gate, efd, lpc, consumed, sleeps, signals, claimed>>

ClaimLoad(p) ==   \* wake_gate.hpp claim_wake(): state_.load() != kSleeping -> false
  /\ ppc' = [ppc EXCEPT ![p] = IF gate = SLEEPING THEN "claim_xchg" ELSE NextPushOrDone(p)]
  /\ UNCHANGED <<inbox, gate, efd, pushed, lpc, consumed, sleeps, signals, claimed>>

ClaimXchg(p) ==   \* state_.exchange(kAwake) == kSleeping
  /\ gate' = AWAKE
  /\ ppc' = [ppc EXCEPT ![p] = IF gate = SLEEPING THEN "write" ELSE NextPushOrDone(p)]
  /\ UNCHANGED <<inbox, efd, pushed, lpc, consumed, sleeps, signals, claimed>>

Write(p) ==       \* event_loop.hpp wake_if_sleeping(): write(wake_fd, 1)
  /\ efd' = efd + 1
  /\ signals' = signals + 1
  /\ ppc' = [ppc EXCEPT ![p] = NextPushOrDone(p)]
  /\ UNCHANGED <<inbox, gate, pushed, lpc, consumed, sleeps, claimed>>

Producer(p) ==
  CASE ppc[p] = "push"       -> Push(p)
    [] ppc[p] = "claim_load" -> ClaimLoad(p)
    [] ppc[p] = "claim_xchg" -> ClaimXchg(p)
    [] ppc[p] = "write"      -> Write(p)
    [] OTHER                 -> FALSE

-----------------------------------------------------------------------------
\* The loop thread: run_once pops until the inbox is empty, then
\* sleep_until_work -> WakeGate::sleep: announce, re-check, cancel or block, finish.

Pop ==            \* pop() until Empty (the spin phase repeats the same check)
  /\ IF inbox # <<>>
       THEN /\ inbox' = Tail(inbox)
            /\ consumed' = consumed + 1
            /\ lpc' = "pop"
       ELSE /\ lpc' = "announce"
            /\ UNCHANGED <<inbox, consumed>>
  /\ UNCHANGED <<gate, efd, ppc, pushed, sleeps, signals, claimed>>

Announce ==       \* announce_sleep(): state_.store(kSleeping)
  /\ gate' = SLEEPING
  /\ sleeps' = sleeps + 1
  /\ lpc' = IF BUG = "norecheck" THEN "block" ELSE "recheck"
  /\ UNCHANGED <<inbox, efd, ppc, pushed, consumed, signals, claimed>>

Recheck ==        \* has_work(): !inbox.consumer_sees_empty()
  /\ lpc' = IF inbox # <<>> THEN "cancel" ELSE "block"
  /\ UNCHANGED <<inbox, gate, efd, ppc, pushed, consumed, sleeps, signals, claimed>>

Cancel ==         \* cancel_sleep(): state_.exchange(kAwake) == kAwake
  /\ gate' = AWAKE
  /\ claimed' = (gate = AWAKE)
  /\ lpc' = "pop"
  /\ UNCHANGED <<inbox, efd, ppc, pushed, consumed, sleeps, signals>>

Block ==          \* poll_fds(): epoll_wait returns once the eventfd is readable; read() resets it
  /\ efd > 0
  /\ efd' = 0
  /\ lpc' = "finish"
  /\ UNCHANGED <<inbox, gate, ppc, pushed, consumed, sleeps, signals, claimed>>

Finish ==         \* finish_sleep(): state_.exchange(kAwake) == kAwake
  /\ gate' = AWAKE
  /\ claimed' = (gate = AWAKE)
  /\ lpc' = "pop"
  /\ UNCHANGED <<inbox, efd, ppc, pushed, consumed, sleeps, signals>>

Loop ==
  CASE lpc = "pop"      -> Pop
    [] lpc = "announce" -> Announce
    [] lpc = "recheck"  -> Recheck
    [] lpc = "cancel"   -> Cancel
    [] lpc = "block"    -> Block
    [] lpc = "finish"   -> Finish
    [] OTHER            -> FALSE

-----------------------------------------------------------------------------
ProducersDone == \A p \in Producers : ppc[p] = "done"

\* The idle end: everything pushed and consumed, the loop blocked in epoll_wait
\* with no signal pending. Any other state without successors is a deadlock.
Idle == ProducersDone /\ inbox = <<>> /\ lpc = "block" /\ efd = 0

Terminating == Idle /\ UNCHANGED vars

Next == (\E p \in Producers : Producer(p)) \/ Loop \/ Terminating

Spec == Init /\ [][Next]_vars /\ (\A p \in Producers : WF_vars(Producer(p))) /\ WF_vars(Loop)

-----------------------------------------------------------------------------
TypeOK ==
  /\ \A i \in 1..Len(inbox) : inbox[i] \in 1..(3 * NP)
  /\ gate \in {AWAKE, SLEEPING}
  /\ efd \in 0..Total
  /\ \A p \in Producers : ppc[p] \in PLabels /\ pushed[p] \in 0..Items[p]
  /\ lpc \in LLabels
  /\ consumed \in 0..Total
  /\ consumed + Len(inbox) = pushed[1] + (IF NP >= 2 THEN pushed[2] ELSE 0)
                                       + (IF NP >= 3 THEN pushed[3] ELSE 0)
  /\ sleeps \in Nat /\ signals \in 0..Total
  /\ claimed \in BOOLEAN

\* At most one eventfd write per announced sleep (the coalescing the header promises).
SignalsLeSleeps == signals <= sleeps

\* No lost wakeup: once every producer is done, the loop is never blocked in
\* epoll_wait with no signal pending while items are queued.
NoLostWakeup == (ProducersDone /\ lpc = "block" /\ efd = 0) => inbox = <<>>

\* Liveness (weak fairness of every thread, Spec). Both predicates are stable.
AllConsumed == <>(consumed = Total)
EndsIdle == <>(ProducersDone /\ inbox = <<>> /\ consumed = Total)
=============================================================================
