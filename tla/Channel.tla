------------------------------- MODULE Channel -------------------------------
\* The hand-off of loop/channel.hpp (Channel<T>), thread side, action by action: P producers
\* each push a short sequence of distinct values with push()/push_for(), C consumers loop on
\* pop()/pop_for() until end-of-stream, a buffer of capacity K (or unbounded), and a closer
\* that calls close() once at any moment. Waiters may give up (timeout = the cancel CAS of
\* cancel_wait(), which is also the path of a task's cancel and of a destroyed frame).
\*
\* ACTION <-> CODE (loop/channel.hpp as reviewed; function names, the file has no stable
\* line numbers yet). The lock mu_ is modelled as atomic critical sections: each locked
\* region is ONE action (the variable `lock` is only ever taken by BUG "noclaim", whose
\* claim is split inside its locked region, see below).
\*  producer p (Vals[p] values, in order; after a timeout it goes on with its next value,
\*             after ChannelClosedError it stops and keeps the rest):
\*   push      push_until(), its locked region: closed_ -> refuse_locked (ChannelClosedError);
\*             offer_locked(): claim_first_locked(pop_waiters_) (the claim CAS
\*             WAITING->CLAIMED), the value moved into the waiter's slot (dest),
\*             finish_claim_locked() (DONE, wake_locked); else buffer_.emplace_back if
\*             there is room; else push_waiters_.push_back(&w) and wait
\*   claim_store (BUG "noclaim" only) the mutant's store CLAIMED after its load == WAITING,
\*             then the rest of offer_locked() as above, then the unlock
\*   wait      wait_thread(): the futex wait on the node's state word is an await; its
\*             return is `ret` (state DONE or CLOSED, then `lock_guard` once, one action:
\*             DONE -> next value; CLOSED -> ChannelClosedError)
\*   cancel    wait_thread() deadline passed -> cancel_wait(): the CAS WAITING->CANCELLED,
\*             WITHOUT the lock (a failed CAS is a no-op here: the thread then returns as
\*             after DONE/CLOSED; cancel_wait's lock_guard on failure is an empty region)
\*   unlink    cancel_wait() on success: lock_guard; if (w.linked) erase: one action; then
\*             push_for() throws TimeoutError (the value stays with the caller)
\*  consumer c (loops: pop until nullopt, a timeout retries):
\*   pop       pop_until(), its locked region: take_locked() (buffer_.front, pop_front,
\*             admit_push_waiters_locked(): claim the first waiting push waiter, move its
\*             value into the buffer, DONE, wake); else closed_ -> nullopt (end-of-stream);
\*             else pop_waiters_.push_back(&w) and wait
\*   admit_store (BUG "noclaim" only) the mutant's store CLAIMED in admit_push_waiters_locked
\*   wait / cancel / unlink   as for the producer (DONE -> the value in the slot is returned;
\*             CLOSED -> nullopt; CANCELLED -> TimeoutError, the consumer pops again)
\*   abandon   (Abandons > 0: the consumer is a coroutine in async_pop() whose loop closes)
\*             a value was claimed for it (DONE), the resumption is refused or dropped by
\*             the loop's close(), the task's frame is destroyed: ~PopAwaiter ->
\*             cancel_wait() fails -> give_back(): lock; claim the first waiting pop waiter
\*             and hand it the value (as offer_locked), else buffer_.push_front(value). One
\*             action (cancel_wait's failed path takes the lock for an empty region).
\*  closer:
\*   close     close(): the whole locked region (closed_ = true; take_all() of both lists;
\*             per waiter the CAS WAITING->CLOSED, wake on success)
\*
\* ABSTRACTIONS (read before trusting a green run)
\*  * Sequentially consistent memory: the seq_cst CASes and the release/acquire pair of DONE
\*    are not checked for their orders (Relacy / the stress tests do that).
\*  * A locked region is one action. Inside it, the claim CAS, the move, DONE and the wake
\*    are therefore indivisible; the waiter can only interleave lock-free steps (its cancel
\*    CAS, its loads), and those see WAITING or CLAIMED..DONE, never a half-moved value, so
\*    this loses no behaviour of the correct code. The mutant is different: its load and
\*    store are separate steps and the waiter's cancel CAS may come in between; BUG
\*    "noclaim" splits exactly there (the lock is held across the split).
\*  * admit_push_waiters_locked() admits at most one push waiter per take (a take frees one
\*    slot; with give_back() the buffer may be over capacity and then it admits none).
\*  * Thread waiters only, except the optional coroutine `abandon` above. Not modelled: the
\*    coroutine resumption through call_soon_threadsafe (flush()), on_cancel's resume_soon,
\*    the cancel delivered at the next await after a lost cancel CAS, try_push / try_pop
\*    (the same locked regions without the wait), drop_all(), stats(), size(); spurious
\*    futex returns and sync::yield (they re-run the load loop).
\*  * Bounded: timeouts are a global budget `Cancels` of cancel CASes, taken by the threads
\*    in `Cancellers` at any moment while they wait; at most one closer, one close().
\*
\* BUG (seeded, separate cfg):
\*  "noclaim" = HANDOFF_MUTANT_CHANNEL_NO_CLAIM: claim_first_locked() loads state == WAITING,
\*     then stores CLAIMED (no CAS). A waiter whose cancel CAS lands between the two is
\*     handed a value anyway (pop waiter: the value dies with its frame; push waiter: its
\*     value is both in the buffer and back with the caller).
\*  "givebackfront" = give_back() before its fix (found by this spec and, at the same time,
\*     by the channel's stress test; README.md): it only pushed the value to the front of
\*     the buffer, claiming no pop waiter: a waiting consumer sleeps on with a value in the
\*     buffer (Abandons = 1).
\*
\* Single module on purpose (tla-checker ignores EXTENDS of user modules).

EXTENDS Naturals, Sequences, FiniteSets

CONSTANTS
  Vals,        \* Vals[p]: how many values producer p pushes (1..3)
  C,           \* consumers
  K,           \* capacity; 0 = unbounded (Channel::kUnbounded)
  Closer,      \* TRUE: one closer calls close() once, at any moment; FALSE: never closed
  Cancels,     \* cancel CASes (timeouts, task cancels) that may happen, in all
  Cancellers,  \* the threads that may cancel their wait (a subset of Threads)
  Abandons,    \* consumer frames that may be destroyed with a claimed value (0 or 1)
  BUG          \* "none" | "noclaim" | "givebackfront"

NP == Len(Vals)
Producers == 1..NP
Consumers == (NP + 1)..(NP + C)
Threads == 1..(NP + C)

ASSUME /\ NP \in 1..3 /\ \A p \in Producers : Vals[p] \in 1..3
       /\ C \in 1..3 /\ K \in 0..3 /\ Closer \in BOOLEAN
       /\ Cancels \in 0..3 /\ Cancellers \subseteq Threads /\ Abandons \in 0..1
       /\ BUG \in {"none", "noclaim", "givebackfront"}

\* Value i of producer p (distinct values; producer and index recoverable).
Val(p, i) == 10 * p + i
ProdOf(v) == v \div 10
IdxOf(v) == v % 10
Values == UNION {{Val(p, i) : i \in 1..Vals[p]} : p \in Producers}

VARIABLES
  buf,        \* buffer_ (a FIFO of values)
  closed,     \* closed_
  popq,       \* pop_waiters_: the linked consumer nodes, in FIFO order (thread ids)
  pushq,      \* push_waiters_: the linked producer nodes, in FIFO order
  ns,         \* ns[t]: the state word of t's node: "none" (no node), "waiting", "done",
              \*        "cancelled", "closed" (CLAIMED and DONE are one step: see above)
  pc,         \* pc[t]
  k,          \* k[p]: the index of the value producer p is pushing (Vals[p] + 1: finished)
  slot,       \* slot[c]: the pop waiter's std::optional<T> slot (0: empty)
  recv,       \* recv[c]: the values consumer c's pops returned, in order
  kept,       \* values whose push did not accept them: they stay with their producer
  lastTaken,  \* lastTaken[p]: index of the last value of p taken out of the channel
  cancels,    \* cancel CASes left
  abandons,   \* frame destructions left
  cpc,        \* closer pc
  lock,       \* BUG noclaim only: the thread holding mu_ across the split claim (0: none)
  cand        \* BUG noclaim only: cand[t]: the waiter t's load found WAITING

vars == <<buf, closed, popq, pushq, ns, pc, k, slot, recv, kept, lastTaken, cancels,
          abandons, cpc, lock, cand>>

Init ==
  /\ buf = <<>>
  /\ closed = FALSE
  /\ popq = <<>>
  /\ pushq = <<>>
  /\ ns = [t \in Threads |-> "none"]
  /\ pc = [t \in Threads |-> IF t \in Producers THEN "push" ELSE "pop"]
  /\ k = [p \in Producers |-> 1]
  /\ slot = [c \in Consumers |-> 0]
  /\ recv = [c \in Consumers |-> <<>>]
  /\ kept = {}
  /\ lastTaken = [p \in Producers |-> 0]
  /\ cancels = Cancels
  /\ abandons = Abandons
  /\ cpc = IF Closer THEN "close" ELSE "done"
  /\ lock = 0
  /\ cand = [t \in Threads |-> 0]

-----------------------------------------------------------------------------
\* Helpers.

\* The first node of list q whose state is WAITING (claim_first_locked skips the others:
\* cancelled nodes not yet unlinked by their owners), or 0.
FirstWaiting(q) ==
  IF \E i \in 1..Len(q) : ns[q[i]] = "waiting"
    THEN q[CHOOSE i \in 1..Len(q) : ns[q[i]] = "waiting" /\ \A j \in 1..(i - 1) : ns[q[j]] # "waiting"]
    ELSE 0

\* List::erase (if linked).
Remove(q, t) ==
  IF \E i \in 1..Len(q) : q[i] = t
    THEN LET i == CHOOSE j \in 1..Len(q) : q[j] = t IN SubSeq(q, 1, i - 1) \o SubSeq(q, i + 1, Len(q))
    ELSE q

Room(b) == K = 0 \/ Len(b) < K

Cur(p) == Val(p, k[p])

\* The value leaves the channel (taken by a pop, or claimed for a pop waiter).
Taken(v) == lastTaken' = [lastTaken EXCEPT ![ProdOf(v)] = IdxOf(v)]

\* Producer p is finished with its current value: the next one, or done.
NextValue(p) ==
  /\ k' = [k EXCEPT ![p] = @ + 1]
  /\ pc' = [pc EXCEPT ![p] = IF k[p] < Vals[p] THEN "push" ELSE "done"]

\* ChannelClosedError: the producer stops; this value and the rest stay with it.
StopClosed(p) ==
  /\ kept' = kept \cup {Val(p, i) : i \in k[p]..Vals[p]}
  /\ k' = [k EXCEPT ![p] = Vals[p] + 1]
  /\ pc' = [pc EXCEPT ![p] = "done"]

-----------------------------------------------------------------------------
\* Producer p.

\* push_until(): the locked region.
Push(p) ==
  /\ lock = 0
  /\ LET v == Cur(p)
         w == FirstWaiting(popq) IN
     IF closed
       THEN /\ StopClosed(p)                                         \* refuse_locked
            /\ UNCHANGED <<buf, popq, pushq, ns, slot, lastTaken, lock, cand>>
     ELSE IF w # 0 /\ BUG = "noclaim"
       THEN \* the mutant's load == WAITING; it keeps the lock for its store
            /\ lock' = p
            /\ cand' = [cand EXCEPT ![p] = w]
            /\ pc' = [pc EXCEPT ![p] = "claim_store"]
            /\ UNCHANGED <<buf, popq, pushq, ns, k, slot, kept, lastTaken>>
     ELSE IF w # 0
       THEN \* claim CAS won; the value moves into w's slot; DONE; wake
            /\ ns' = [ns EXCEPT ![w] = "done"]
            /\ slot' = [slot EXCEPT ![w] = v]
            /\ popq' = Remove(popq, w)
            /\ Taken(v)
            /\ NextValue(p)
            /\ UNCHANGED <<buf, pushq, kept, lock, cand>>
     ELSE IF Room(buf)
       THEN /\ buf' = Append(buf, v)
            /\ NextValue(p)
            /\ UNCHANGED <<popq, pushq, ns, slot, kept, lastTaken, lock, cand>>
     ELSE   \* full: wait as a push waiter
            /\ pushq' = Append(pushq, p)
            /\ ns' = [ns EXCEPT ![p] = "waiting"]
            /\ pc' = [pc EXCEPT ![p] = "wait"]
            /\ UNCHANGED <<buf, popq, k, slot, kept, lastTaken, lock, cand>>
  /\ UNCHANGED <<closed, recv, cancels, abandons, cpc>>

\* BUG noclaim: store CLAIMED (over whatever the waiter did meanwhile), erase, move, DONE.
ClaimStore(p) ==
  LET v == Cur(p)
      w == cand[p] IN
  /\ ns' = [ns EXCEPT ![w] = "done"]
  /\ slot' = [slot EXCEPT ![w] = v]
  /\ popq' = Remove(popq, w)
  /\ Taken(v)
  /\ NextValue(p)
  /\ lock' = 0
  /\ cand' = [cand EXCEPT ![p] = 0]
  /\ UNCHANGED <<buf, closed, pushq, recv, kept, cancels, abandons, cpc>>

\* wait_thread() sees DONE or CLOSED, takes the lock once, returns.
ReturnP(p) ==
  /\ lock = 0
  /\ ns[p] \in {"done", "closed"}
  /\ ns' = [ns EXCEPT ![p] = "none"]
  /\ IF ns[p] = "done" THEN NextValue(p) /\ UNCHANGED kept
                       ELSE StopClosed(p)
  /\ UNCHANGED <<buf, closed, popq, pushq, slot, recv, lastTaken, cancels, abandons, cpc, lock, cand>>

\* cancel_wait(): the cancel CAS WAITING -> CANCELLED, without the lock.
Cancel(t) ==
  /\ t \in Cancellers
  /\ cancels > 0
  /\ ns[t] = "waiting"
  /\ ns' = [ns EXCEPT ![t] = "cancelled"]
  /\ cancels' = cancels - 1
  /\ pc' = [pc EXCEPT ![t] = "unlink"]
  /\ UNCHANGED <<buf, closed, popq, pushq, k, slot, recv, kept, lastTaken, abandons, cpc, lock, cand>>

\* cancel_wait() after its CAS won: lock; if linked, erase. push_for() throws TimeoutError:
\* the value stays with the caller, which goes on with its next value.
UnlinkP(p) ==
  /\ lock = 0
  /\ pushq' = Remove(pushq, p)
  /\ ns' = [ns EXCEPT ![p] = "none"]
  /\ kept' = kept \cup {Cur(p)}
  /\ NextValue(p)
  /\ UNCHANGED <<buf, closed, popq, slot, recv, lastTaken, cancels, abandons, cpc, lock, cand>>

\* The producer's steps under fairness (its cancel is not forced).
ProducerStep(p) ==
  CASE pc[p] = "push"        -> Push(p)
    [] pc[p] = "claim_store" -> ClaimStore(p)
    [] pc[p] = "wait"        -> ReturnP(p)
    [] pc[p] = "unlink"      -> UnlinkP(p)
    [] OTHER                 -> FALSE

-----------------------------------------------------------------------------
\* Consumer c.

\* pop_until(): the locked region.
Pop(c) ==
  /\ lock = 0
  /\ IF buf # <<>>
       THEN LET v  == Head(buf)
                b1 == Tail(buf)
                w  == FirstWaiting(pushq) IN
            /\ recv' = [recv EXCEPT ![c] = Append(@, v)]
            /\ Taken(v)
            /\ IF w # 0 /\ Room(b1) /\ BUG = "noclaim"
                 THEN \* admit: the mutant's load == WAITING; it keeps the lock
                      /\ buf' = b1
                      /\ lock' = c
                      /\ cand' = [cand EXCEPT ![c] = w]
                      /\ pc' = [pc EXCEPT ![c] = "admit_store"]
                      /\ UNCHANGED <<pushq, ns>>
               ELSE IF w # 0 /\ Room(b1)
                 THEN \* admit_push_waiters_locked: claim CAS won, value moved, DONE
                      /\ buf' = Append(b1, Cur(w))
                      /\ ns' = [ns EXCEPT ![w] = "done"]
                      /\ pushq' = Remove(pushq, w)
                      /\ UNCHANGED <<pc, lock, cand>>
               ELSE /\ buf' = b1
                    /\ UNCHANGED <<pushq, ns, pc, lock, cand>>
            /\ UNCHANGED popq
     ELSE IF closed
       THEN \* end-of-stream
            /\ pc' = [pc EXCEPT ![c] = "done"]
            /\ UNCHANGED <<buf, pushq, popq, ns, recv, lastTaken, lock, cand>>
     ELSE   \* empty: wait as a pop waiter
            /\ popq' = Append(popq, c)
            /\ ns' = [ns EXCEPT ![c] = "waiting"]
            /\ pc' = [pc EXCEPT ![c] = "wait"]
            /\ UNCHANGED <<buf, pushq, recv, lastTaken, lock, cand>>
  /\ UNCHANGED <<closed, k, slot, kept, cancels, abandons, cpc>>

\* BUG noclaim: admit_push_waiters_locked's store CLAIMED, erase, move, DONE.
AdmitStore(c) ==
  LET w == cand[c] IN
  /\ buf' = Append(buf, Cur(w))
  /\ ns' = [ns EXCEPT ![w] = "done"]
  /\ pushq' = Remove(pushq, w)
  /\ pc' = [pc EXCEPT ![c] = "pop"]
  /\ lock' = 0
  /\ cand' = [cand EXCEPT ![c] = 0]
  /\ UNCHANGED <<closed, popq, k, slot, recv, kept, lastTaken, cancels, abandons, cpc>>

\* wait_thread() sees DONE (the value is in the slot) or CLOSED (nullopt: end-of-stream).
ReturnC(c) ==
  /\ lock = 0
  /\ ns[c] \in {"done", "closed"}
  /\ ns' = [ns EXCEPT ![c] = "none"]
  /\ IF ns[c] = "done"
       THEN /\ recv' = [recv EXCEPT ![c] = Append(@, slot[c])]
            /\ slot' = [slot EXCEPT ![c] = 0]
            /\ pc' = [pc EXCEPT ![c] = "pop"]
       ELSE /\ pc' = [pc EXCEPT ![c] = "done"]
            /\ UNCHANGED <<recv, slot>>
  /\ UNCHANGED <<buf, closed, popq, pushq, k, kept, lastTaken, cancels, abandons, cpc, lock, cand>>

\* cancel_wait() after its CAS won: lock; if linked, erase. pop_for() throws TimeoutError
\* (the slot dies with the frame: it must be empty) and the consumer pops again.
UnlinkC(c) ==
  /\ lock = 0
  /\ popq' = Remove(popq, c)
  /\ ns' = [ns EXCEPT ![c] = "none"]
  /\ slot' = [slot EXCEPT ![c] = 0]
  /\ pc' = [pc EXCEPT ![c] = "pop"]
  /\ UNCHANGED <<buf, closed, pushq, k, recv, kept, lastTaken, cancels, abandons, cpc, lock, cand>>

\* A coroutine consumer's frame destroyed after a value was claimed for it (its loop
\* closed): ~PopAwaiter -> cancel_wait() fails -> give_back(): to a waiting pop, or push_front.
Abandon(c) ==
  /\ abandons > 0
  /\ lock = 0
  /\ pc[c] = "wait"
  /\ ns[c] = "done"
  /\ LET v == slot[c]
         w == FirstWaiting(popq) IN
     IF BUG # "givebackfront" /\ w # 0
       THEN \* hand it to the first waiting pop waiter, as offer_locked does (claim CAS,
            \* emplace, ++popped, finish_claim_locked, flush)
            /\ slot' = [slot EXCEPT ![c] = 0, ![w] = v]
            /\ ns' = [ns EXCEPT ![c] = "none", ![w] = "done"]
            /\ popq' = Remove(popq, w)
            /\ UNCHANGED buf
       ELSE \* no waiting pop (or BUG givebackfront, the code before the fix, which never
            \* looked): buffer_.push_front(value)
            /\ buf' = <<v>> \o buf
            /\ slot' = [slot EXCEPT ![c] = 0]
            /\ ns' = [ns EXCEPT ![c] = "none"]
            /\ UNCHANGED popq
  /\ pc' = [pc EXCEPT ![c] = "gone"]
  /\ abandons' = abandons - 1
  /\ UNCHANGED <<closed, pushq, k, recv, kept, lastTaken, cancels, cpc, lock, cand>>

ConsumerStep(c) ==
  CASE pc[c] = "pop"         -> Pop(c)
    [] pc[c] = "admit_store" -> AdmitStore(c)
    [] pc[c] = "wait"        -> ReturnC(c)
    [] pc[c] = "unlink"      -> UnlinkC(c)
    [] OTHER                 -> FALSE

-----------------------------------------------------------------------------
\* The closer: close(), one locked region.
Close ==
  /\ cpc = "close"
  /\ lock = 0
  /\ closed' = TRUE
  /\ ns' = [t \in Threads |-> IF ns[t] = "waiting" /\ ((\E i \in 1..Len(popq) : popq[i] = t)
                                                      \/ (\E j \in 1..Len(pushq) : pushq[j] = t))
                              THEN "closed" ELSE ns[t]]
  /\ popq' = <<>>
  /\ pushq' = <<>>
  /\ cpc' = "done"
  /\ UNCHANGED <<buf, pc, k, slot, recv, kept, lastTaken, cancels, abandons, lock, cand>>

-----------------------------------------------------------------------------
\* The ends. AllDone: everybody returned for good (needs close(), or no consumer left).
\* Idle (never closed): every value pushed or kept, the buffer empty, every consumer left
\* blocked in pop() -- the legitimate end of an open channel nobody pushes to.
AllDone ==
  /\ \A p \in Producers : pc[p] = "done"
  /\ \A c \in Consumers : pc[c] \in {"done", "gone"}
  /\ cpc = "done"
Idle ==
  /\ ~Closer
  /\ \A p \in Producers : pc[p] = "done"
  /\ buf = <<>>
  /\ \A c \in Consumers : (pc[c] = "wait" /\ ns[c] = "waiting") \/ pc[c] = "gone"
Terminating == (AllDone \/ Idle) /\ UNCHANGED vars

Next ==
  \/ \E p \in Producers : ProducerStep(p)
  \/ \E c \in Consumers : ConsumerStep(c) \/ Abandon(c)
  \/ \E t \in Threads : Cancel(t)
  \/ Close
  \/ Terminating

\* Weak fairness of every thread's own steps and of the closer; a cancel or a frame
\* destruction is never forced (they may or may not happen).
Spec == Init /\ [][Next]_vars /\ (\A p \in Producers : WF_vars(ProducerStep(p)))
                              /\ (\A c \in Consumers : WF_vars(ConsumerStep(c)))
                              /\ WF_vars(Close)

-----------------------------------------------------------------------------
\* INVARIANTS

PLabels == {"push", "claim_store", "wait", "unlink", "done"}
CLabels == {"pop", "admit_store", "wait", "unlink", "done", "gone"}

TypeOK ==
  /\ \A i \in 1..Len(buf) : buf[i] \in Values
  /\ closed \in BOOLEAN
  /\ \A i \in 1..Len(popq) : popq[i] \in Consumers
  /\ \A i \in 1..Len(pushq) : pushq[i] \in Producers
  /\ \A t \in Threads : ns[t] \in {"none", "waiting", "done", "cancelled", "closed"}
  /\ \A p \in Producers : pc[p] \in PLabels /\ k[p] \in 1..(Vals[p] + 1)
                          /\ (pc[p] # "done" => k[p] <= Vals[p])
  /\ \A c \in Consumers : pc[c] \in CLabels /\ (slot[c] = 0 \/ slot[c] \in Values)
                          /\ \A i \in 1..Len(recv[c]) : recv[c][i] \in Values
  /\ kept \subseteq Values
  /\ \A p \in Producers : lastTaken[p] \in 0..Vals[p]
  /\ cancels \in 0..Cancels /\ abandons \in 0..Abandons
  /\ cpc \in {"close", "done"}
  /\ lock \in 0..(NP + C) /\ \A t \in Threads : cand[t] \in 0..(NP + C)

\* Where value v is: each of these counts 0 or 1 in a correct run.
WithProducer(v) ==
  LET p == ProdOf(v)
      i == IdxOf(v) IN
  \/ v \in kept                                   \* its push returned without accepting it
  \/ i > k[p]                                     \* not offered yet
  \/ (i = k[p] /\ pc[p] \in {"push", "claim_store"})
  \/ (i = k[p] /\ pc[p] \in {"wait", "unlink"} /\ ns[p] \in {"waiting", "cancelled", "closed"})
InBuf(v)     == Cardinality({i \in 1..Len(buf) : buf[i] = v})
InTransit(v) == Cardinality({c \in Consumers : slot[c] = v})
Received(v)  == Cardinality({c \in Consumers : \E i \in 1..Len(recv[c]) : recv[c][i] = v})
Places(v)    == (IF WithProducer(v) THEN 1 ELSE 0) + InBuf(v) + InTransit(v) + Received(v)

\* No value lost: every value is somewhere (with its producer, in the buffer, in a claimed
\* waiter's slot, or returned by a pop).
NoValueLost == \A v \in Values : Places(v) >= 1

\* No duplicate: nowhere twice (no two places, no consumer received it twice).
NoDuplicate ==
  /\ \A v \in Values : Places(v) <= 1
  /\ \A c \in Consumers : \A i, j \in 1..Len(recv[c]) : i < j => recv[c][i] # recv[c][j]

\* A waiter that won its cancel CAS (it is about to unlink and throw) was handed nothing:
\* its state is still CANCELLED and, for a pop waiter, its slot is empty.
NeverHandedToCancelled ==
  \A t \in Threads : pc[t] = "unlink" =>
     /\ ns[t] = "cancelled"
     /\ (t \in Consumers => slot[t] = 0)

\* Per-producer FIFO in what each consumer receives.
PerProducerFIFO ==
  \A c \in Consumers : \A i, j \in 1..Len(recv[c]) :
     (i < j /\ ProdOf(recv[c][i]) = ProdOf(recv[c][j])) => IdxOf(recv[c][i]) < IdxOf(recv[c][j])

\* Per-producer FIFO in delivery order (the moment a value leaves the channel): once value
\* i of p was taken, every earlier value of p has been taken too or was never accepted --
\* none is still in the buffer or still on its way in.
GlobalFIFO ==
  \A v \in Values : IdxOf(v) < lastTaken[ProdOf(v)] => (InBuf(v) = 0 /\ (WithProducer(v) => v \in kept))

\* Pop waiters (still WAITING) only while the buffer is empty; push waiters only while it is
\* full (never with an unbounded channel). Whenever mu_ is free (lock = 0: always, except
\* inside the split locked region of BUG noclaim).
WaitersOnlyWhenNeeded ==
  lock = 0 =>
  /\ (\E i \in 1..Len(popq) : ns[popq[i]] = "waiting") => buf = <<>>
  /\ (\E i \in 1..Len(pushq) : ns[pushq[i]] = "waiting") => (K # 0 /\ Len(buf) >= K)

\* Linked nodes are waiting or cancelled-not-yet-unlinked, and only their owner's (lock free).
ListsWellFormed ==
  lock = 0 =>
  /\ \A i \in 1..Len(popq) : pc[popq[i]] \in {"wait", "unlink"} /\ ns[popq[i]] \in {"waiting", "cancelled"}
  /\ \A i \in 1..Len(pushq) : pc[pushq[i]] \in {"wait", "unlink"} /\ ns[pushq[i]] \in {"waiting", "cancelled"}
  /\ \A t \in Threads : ns[t] = "waiting" =>
        (\E i \in 1..Len(popq) : popq[i] = t) \/ (\E j \in 1..Len(pushq) : pushq[j] = t)

\* close() woke every waiter: after it nobody is WAITING and both lists are empty.
ClosedWakesAll ==
  closed => (popq = <<>> /\ pushq = <<>> /\ \A t \in Threads : ns[t] # "waiting")

\* End-of-stream only once closed and drained.
EndOfStreamDrained ==
  (\E c \in Consumers : pc[c] = "done") => (closed /\ buf = <<>>)

\* The terminal states: everything accepted was received; no node left; (open channel)
\* every consumer blocked in pop() on an empty buffer.
Terminal ==
  /\ AllDone =>
       /\ buf = <<>> /\ popq = <<>> /\ pushq = <<>>
       /\ \A t \in Threads : ns[t] = "none"
       /\ \A v \in Values : v \in kept \/ Received(v) = 1
  /\ Idle =>
       /\ pushq = <<>>
       /\ \A v \in Values : v \in kept \/ Received(v) = 1

-----------------------------------------------------------------------------
\* LIVENESS (Spec: weak fairness of every thread's own steps and of the closer; cancels
\* never forced). <>P over stable P (README: no ~>).

\* Every value is eventually received by exactly one consumer, unless its push did not
\* accept it (timeout, close): accepted values are never stranded.
Resolved(v) == v \in kept \/ Received(v) = 1
EveryValueResolved == \A v \in Values : <>(Resolved(v))
\* Every push returns (no producer waits forever).
EveryPushReturns == \A p \in Producers : <>(pc[p] = "done")
\* With close(): every consumer gets end-of-stream (or its frame went away).
EveryConsumerEnds == \A c \in Consumers : <>(pc[c] \in {"done", "gone"})
\* Without close() and without cancellation: every pushed value is eventually popped.
EveryValueDelivered == \A v \in Values : <>(Received(v) = 1)
=============================================================================
