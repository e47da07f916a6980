----------------------------- MODULE MpscInbox -----------------------------
\* The MPSC inbox of primitives/mpsc_inbox.hpp, action by action: Vyukov's
\* intrusive node-based MPSC queue (1024cores.net, 2010) with the stub re-push in
\* pop(), plus handoff's linearizable close() (closed_ flag, sentinel node, verdicts
\* copied from the predecessor, settle_refused()).
\*
\* One TLA+ action = one atomic operation of the C++ code (or one plain,
\* thread-private step merged with the atomic operation next to it). The pc labels
\* are named after the code; tla/README.md maps every label to its line.
\*
\* ABSTRACTIONS (read before trusting a green run)
\*  * Memory is sequentially consistent: every atomic operation is one indivisible
\*    step in one global order. The release/acquire side of the code is checked by
\*    Relacy (tests/model/), not here.
\*  * Bounded: producer p pushes Items[p] items, NC threads call close() once each,
\*    one consumer calls pop() in a loop until it answers Closed. Every run closes.
\*  * Nodes: with R = 0 item k of producer p lives in its own node NodeOf(p, k) (no
\*    reuse). With R > 0 (issue 10: node reuse) producer p owns R nodes and pushes item
\*    k in node NodeOf(p, ((k - 1) % R) + 1), waiting until that node is its own again:
\*    a refused node at once (MpscQueue's thread-local cache hands it straight back), a
\*    popped node when the consumer has popped it (the return stack, abstracted: a
\*    node goes back to the producer that owns it; which producer reuses a node does
\*    not matter to the protocol, only that its previous push is over). Ghost state is
\*    per item (ItemIds), node state per node (Nodes); carries[n] says which item n holds.
\*  * publish()'s two relaxed stores into a node nobody else may reference yet
\*    (next = nullptr, verdict = kUnknown) are one step; the ownership invariant
\*    checks that nobody else can reference the node at that step.
\*  * Spin-waits (wait_verdict, settle_refused) are modelled as awaits: the step is
\*    enabled once the awaited value is there; a failed iteration is a stutter.
\*  * drain() is pop() in a loop and is not modelled separately; is_closed() is a
\*    hint nobody relies on and is not modelled.
\*
\* Single module on purpose: tla-checker's WASM API takes one source string and
\* silently ignores EXTENDS of a user module, so the bounds live in the .cfg files.
\* The BUG constant seeds known bugs (see README); "none" is the real code.

EXTENDS Naturals, Sequences

CONSTANTS
  Items, \* Items[p]: how many items producer p pushes (sequence numbers 1..Items[p])
  NC,    \* number of threads calling close() (>= 1: every run ends with Closed)
  R,     \* nodes per producer, reused (0: every item has its own node, no reuse)
  BUG    \* "none" = mpsc_inbox.hpp as written; see BugNames

\* "laterefusal": push() without its refusal at once after close() (the code before the
\* issue-10 fix, HANDOFF_MUTANT_INBOX_LATE_REFUSAL).
BugNames == {"none", "precheck", "closeorder", "nosettle", "norefusedlink", "noverdict", "losernowait",
             "laterefusal"}

NP == Len(Items)        \* number of producer threads

ASSUME /\ NP \in 1..4 /\ \A p \in 1..NP : Items[p] \in 1..3
       /\ NC \in 1..3
       /\ R \in 0..3
       /\ BUG \in BugNames

-----------------------------------------------------------------------------
\* Nodes are small integers (no mixed-type equality, TLC-friendly): nullptr, the stub,
\* the sentinel, then the item nodes with a fixed stride of 3 items per producer.
Null     == 0                                    \* nullptr
Stub     == 1                                    \* MpscInbox::stub_
Sentinel == 2                                    \* MpscInbox::sentinel_
NodeOf(p, i)  == 2 + 3 * (p - 1) + i             \* the node of item i of producer p
ProducerOf(n) == ((n - 3) \div 3) + 1
SeqNoOf(n)    == ((n - 3) % 3) + 1

Producers == 1..NP
\* Items are named by the node they would have without reuse (ItemNodes, as before issue 10).
ItemNodes == UNION {{NodeOf(p, i) : i \in 1..Items[p]} : p \in Producers}
PoolNodes == IF R = 0 THEN ItemNodes
             ELSE UNION {{NodeOf(p, j) : j \in 1..R} : p \in Producers}
Nodes     == PoolNodes \cup {Stub, Sentinel}
\* The node that carries item i of producer p.
NodeFor(p, i) == IF R = 0 THEN NodeOf(p, i) ELSE NodeOf(p, ((i - 1) % R) + 1)
\* Threads are small integers too: producers, then the consumer, then the closers.
Consumer  == NP + 1
Closers   == (NP + 2)..(NP + 1 + NC)
Threads   == 1..(NP + 1 + NC)

Inbox == 0                     \* owner value: the node belongs to the inbox

Verdicts == {"unknown", "accepted", "refused"}   \* kUnknown, kAccepted, kRefused

-----------------------------------------------------------------------------
VARIABLES
  \* --- the inbox's memory (all atomics except head_, which is consumer-private)
  tail,      \* tail_
  head,      \* head_
  closed,    \* closed_ (0 open, 1 closing, 2 sentinel in tail_)
  next,      \* next[n]    = n->next
  verdict,   \* verdict[n] = n->verdict
  \* --- thread-local state
  pc,        \* program counter of every thread
  prev,      \* publish(): Node* prev
  verd,      \* publish(): std::uint32_t verdict (local); "none" when dead
  cb,        \* publish() under BUG = "precheck": closed_before
  k,         \* producer p is pushing its item k[p] (Items[p] + 1 when done)
  h,         \* pop(): Node* head (local)
  last,      \* close(): Node* last
  \* --- ghost state: what the invariants talk about
  owner,     \* owner[n]: Inbox, or the thread that may use n exclusively
  carries,   \* carries[n]: the item node n holds (its last push's item)
  res,       \* res[n]: "none" | "pushed" | "closed": what push(n) returned
  xafter,    \* xafter[n]: n's exchange came after close()'s exchange of tail_
  began,     \* began[n]: push(n) began after some close() call had returned
  popped,    \* the items pop() returned, in order
  closeXchg  \* close()'s exchange of tail_ has happened

memVars   == <<tail, head, closed, next, verdict>>
localVars == <<pc, prev, verd, cb, k, h, last>>
ghostVars == <<owner, carries, res, xafter, began, popped, closeXchg>>
vars      == <<tail, head, closed, next, verdict, pc, prev, verd, cb, k, h, last,
               owner, carries, res, xafter, began, popped, closeXchg>>

\* The node thread t is publishing: its current item's node, or the stub for the consumer.
Cur(t) == IF t = Consumer THEN Stub ELSE NodeFor(t, k[t])
\* The item producer t is pushing.
It(t) == NodeOf(t, k[t])

\* Some close() call has returned (a closer is done only when its close() returned).
CloseReturned == \E c \in Closers : pc[c] = "Done"

CloseStart == IF BUG = "closeorder" THEN "close_xchg" ELSE "close_flag"

Init ==
  /\ tail = Stub                                   \* MpscInbox(): tail_(&stub_)
  /\ head = Stub                                   \*              head_(&stub_)
  /\ closed = 0
  /\ next = [n \in Nodes |-> Null]
  /\ verdict = [n \in Nodes |-> IF n = Stub THEN "accepted" ELSE "unknown"]
  /\ pc = [t \in Threads |->
             IF t \in Producers THEN "pub_reset"
             ELSE IF t = Consumer THEN "pop"
             ELSE CloseStart]
  /\ prev = [t \in Threads |-> Null]
  /\ verd = [t \in Threads |-> "none"]
  /\ cb = [t \in Threads |-> FALSE]
  /\ k = [p \in Producers |-> 1]
  /\ h = Null
  /\ last = [c \in Closers |-> Null]
  /\ owner = [n \in Nodes |->
                IF n \in PoolNodes THEN ProducerOf(n) ELSE Inbox]
  /\ carries = [n \in Nodes |-> n]
  /\ res = [n \in ItemNodes |-> "none"]
  /\ xafter = [n \in ItemNodes |-> FALSE]
  /\ began = [n \in ItemNodes |-> FALSE]
  /\ popped = <<>>
  /\ closeXchg = FALSE

-----------------------------------------------------------------------------
\* publish(n): shared by push() (producers) and pop()'s stub re-push (consumer).

\* Return from publish(n) with result ok. A producer records push()'s result, gets a
\* refused node back, and starts its next item; the consumer goes on in pop().
\* Sets pc, prev, verd, k, owner, res; the caller sets or keeps everything else.
PubReturn(t, ok) ==
  LET n == Cur(t) IN
  /\ prev' = [prev EXCEPT ![t] = Null]
  /\ verd' = [verd EXCEPT ![t] = "none"]
  /\ owner' = IF ok THEN owner ELSE [owner EXCEPT ![n] = t]
  /\ IF t = Consumer
       THEN /\ pc' = [pc EXCEPT ![t] = "pop_reload"]
            /\ UNCHANGED <<k, res>>
       ELSE /\ res' = [res EXCEPT ![It(t)] = IF ok THEN "pushed" ELSE "closed"]
            /\ k' = [k EXCEPT ![t] = @ + 1]
            /\ pc' = [pc EXCEPT ![t] = IF k[t] < Items[t] THEN "pub_reset" ELSE "Done"]

\* After the verdict store and the optional link: settle a refusal, or return.
\* (BUG "nosettle": a refused producer returns at once, skipping settle_refused.)
PubAfterLink(t) ==
  IF verd[t] = "refused" /\ BUG # "nosettle"
    THEN /\ pc' = [pc EXCEPT ![t] = "settle_cas"]
         /\ UNCHANGED <<prev, verd, k, owner, res>>
    ELSE PubReturn(t, verd[t] = "accepted")

\* push(): if (closed_.load(acquire) & kSentinelIn) return Closed;   (producers only; not
\* under BUG "laterefusal") — merged with publish()'s private resets that follow it:
\* n->next.store(nullptr, relaxed); n->verdict.store(kUnknown, relaxed)
\* With reuse a producer starts a push only once its node is its own again (owner = t).
PubReset(t) ==
  LET n == Cur(t) IN
  /\ pc[t] = "pub_reset"
  /\ t = Consumer \/ owner[n] = t
  /\ IF t # Consumer /\ closed = 2 /\ BUG # "laterefusal"
       THEN \* refused at once: the node is never the inbox's; linearized after close()'s exchange
            /\ began' = [began EXCEPT ![It(t)] = CloseReturned]
            /\ xafter' = [xafter EXCEPT ![It(t)] = TRUE]
            /\ PubReturn(t, FALSE)
            /\ UNCHANGED <<next, verdict, carries>>
       ELSE /\ next' = [next EXCEPT ![n] = Null]
            /\ verdict' = [verdict EXCEPT ![n] = "unknown"]
            /\ began' = IF t = Consumer THEN began ELSE [began EXCEPT ![It(t)] = CloseReturned]
            /\ carries' = IF t = Consumer THEN carries ELSE [carries EXCEPT ![n] = It(t)]
            /\ pc' = [pc EXCEPT ![t] = IF BUG = "precheck" THEN "pub_precheck" ELSE "pub_xchg"]
            /\ UNCHANGED <<prev, verd, k, owner, res, xafter>>
  /\ UNCHANGED <<tail, head, closed, cb, h, last, popped, closeXchg>>

\* MUTANT HANDOFF_MUTANT_INBOX_CLOSE_PRECHECK: closed_before = closed_.load() != 0
PubPrecheck(t) ==
  /\ pc[t] = "pub_precheck"
  /\ cb' = [cb EXCEPT ![t] = (closed # 0)]
  /\ pc' = [pc EXCEPT ![t] = "pub_xchg"]
  /\ UNCHANGED <<memVars, prev, verd, k, h, last, ghostVars>>

\* Node* prev = tail_.exchange(n, seq_cst)
\* Under the precheck mutant the verdict is decided right here from closed_before:
\*   if (closed_before) verdict = (prev == &sentinel_) ? kRefused : wait_verdict(prev);
PubXchg(t) ==
  LET n == Cur(t) IN
  /\ pc[t] = "pub_xchg"
  /\ tail' = n
  /\ prev' = [prev EXCEPT ![t] = tail]
  /\ owner' = [owner EXCEPT ![n] = Inbox]
  /\ xafter' = IF t = Consumer THEN xafter ELSE [xafter EXCEPT ![It(t)] = closeXchg]
  /\ IF BUG = "precheck"
       THEN /\ cb' = [cb EXCEPT ![t] = FALSE]
            /\ IF cb[t]
                 THEN IF tail = Sentinel
                        THEN /\ verd' = [verd EXCEPT ![t] = "refused"]
                             /\ pc' = [pc EXCEPT ![t] = "pub_verdict"]
                        ELSE /\ pc' = [pc EXCEPT ![t] = "pub_wait"]
                             /\ UNCHANGED verd
                 ELSE /\ verd' = [verd EXCEPT ![t] = "accepted"]
                      /\ pc' = [pc EXCEPT ![t] = "pub_verdict"]
       ELSE /\ pc' = [pc EXCEPT ![t] = "pub_closed"]
            /\ UNCHANGED <<verd, cb>>
  /\ UNCHANGED <<head, closed, next, verdict, k, h, last,
                 res, carries, began, popped, closeXchg>>

\* if (closed_.load(seq_cst) != 0) verdict = (prev == &sentinel_) ? kRefused : wait_verdict(prev);
\* (else verdict stays kAccepted)
PubClosed(t) ==
  /\ pc[t] = "pub_closed"
  /\ IF closed # 0
       THEN IF prev[t] = Sentinel
              THEN /\ verd' = [verd EXCEPT ![t] = "refused"]
                   /\ pc' = [pc EXCEPT ![t] = "pub_verdict"]
              ELSE /\ pc' = [pc EXCEPT ![t] = "pub_wait"]
                   /\ UNCHANGED verd
       ELSE /\ verd' = [verd EXCEPT ![t] = "accepted"]
            /\ pc' = [pc EXCEPT ![t] = "pub_verdict"]
  /\ UNCHANGED <<memVars, prev, cb, k, h, last, ghostVars>>

\* wait_verdict(prev): v = prev->verdict.load(acquire) until v != kUnknown
PubWait(t) ==
  /\ pc[t] = "pub_wait"
  /\ verdict[prev[t]] # "unknown"
  /\ verd' = [verd EXCEPT ![t] = verdict[prev[t]]]
  /\ pc' = [pc EXCEPT ![t] = "pub_verdict"]
  /\ UNCHANGED <<memVars, prev, cb, k, h, last, ghostVars>>

\* n->verdict.store(verdict, release); then if (prev != &sentinel_) link
\* (BUG "norefusedlink": a refused producer does not link prev->next = n.
\*  BUG "noverdict": only a refusal is stored; an accepted node keeps kUnknown.)
PubVerdict(t) ==
  LET n == Cur(t) IN
  /\ pc[t] = "pub_verdict"
  /\ verdict' = IF BUG = "noverdict" /\ verd[t] = "accepted"
                   THEN verdict
                   ELSE [verdict EXCEPT ![n] = verd[t]]
  /\ IF prev[t] # Sentinel /\ ~(BUG = "norefusedlink" /\ verd[t] = "refused")
       THEN /\ pc' = [pc EXCEPT ![t] = "pub_link"]
            /\ UNCHANGED <<prev, verd, k, owner, res>>
       ELSE PubAfterLink(t)
  /\ UNCHANGED <<tail, head, closed, next, cb, h, last,
                 xafter, carries, began, popped, closeXchg>>

\* prev->next.store(n, release); then settle_refused(n) if refused, or return
PubLink(t) ==
  LET n == Cur(t) IN
  /\ pc[t] = "pub_link"
  /\ next' = [next EXCEPT ![prev[t]] = n]
  /\ PubAfterLink(t)
  /\ UNCHANGED <<tail, head, closed, verdict, cb, h, last,
                 xafter, carries, began, popped, closeXchg>>

\* settle_refused(n): tail_.compare_exchange_strong(n -> &sentinel_, seq_cst)
SettleCas(t) ==
  LET n == Cur(t) IN
  /\ pc[t] = "settle_cas"
  /\ IF tail = n
       THEN /\ tail' = Sentinel
            /\ PubReturn(t, FALSE)
       ELSE /\ pc' = [pc EXCEPT ![t] = "settle_wait"]
            /\ UNCHANGED <<tail, prev, verd, k, owner, res>>
  /\ UNCHANGED <<head, closed, next, verdict, cb, h, last,
                 xafter, carries, began, popped, closeXchg>>

\* settle_refused(n): while (n->next.load(acquire) == nullptr) yield();  then return false
SettleWait(t) ==
  LET n == Cur(t) IN
  /\ pc[t] = "settle_wait"
  /\ next[n] # Null
  /\ PubReturn(t, FALSE)
  /\ UNCHANGED <<memVars, cb, h, last,
                 xafter, carries, began, popped, closeXchg>>

\* Dispatch on pc (each action also checks its own label): same behaviors as the
\* disjunction of the actions, but tla-checker evaluates one action instead of all.
Publish(t) ==
  CASE pc[t] = "pub_reset"    -> PubReset(t)
    [] pc[t] = "pub_precheck" -> PubPrecheck(t)
    [] pc[t] = "pub_xchg"     -> PubXchg(t)
    [] pc[t] = "pub_closed"   -> PubClosed(t)
    [] pc[t] = "pub_wait"     -> PubWait(t)
    [] pc[t] = "pub_verdict"  -> PubVerdict(t)
    [] pc[t] = "pub_link"     -> PubLink(t)
    [] pc[t] = "settle_cas"   -> SettleCas(t)
    [] pc[t] = "settle_wait"  -> SettleWait(t)
    [] OTHER                  -> FALSE

-----------------------------------------------------------------------------
\* pop(), consumer only. Empty and Retry both go back to "pop" (the caller polls
\* again); Closed ends the consumer.

\* pop() hands node x out: head_ = next; return {Item, x}. x is the caller's now (with
\* reuse: back to the producer that owns it, through the return stack).
PopItem(x, nxt) ==
  /\ head' = nxt
  /\ popped' = Append(popped, carries[x])
  /\ owner' = [owner EXCEPT ![x] = IF R > 0 THEN ProducerOf(x) ELSE Consumer]
  /\ h' = Null
  /\ pc' = [pc EXCEPT ![Consumer] = "pop"]

\* Node* head = head_; if (head == &sentinel_) return Closed;
PopHead ==
  /\ pc[Consumer] = "pop"
  /\ IF head = Sentinel
       THEN /\ pc' = [pc EXCEPT ![Consumer] = "Done"]
            /\ UNCHANGED h
       ELSE /\ h' = head
            /\ pc' = [pc EXCEPT ![Consumer] = "pop_next"]
  /\ UNCHANGED <<memVars, prev, verd, cb, k, last, ghostVars>>

\* Node* next = head->next.load(acquire), then (line by line)
\*   if (head == &stub_) { if (next == nullptr) -> pop_stub_tail
\*                         head_ = next; head = next; if (head == &sentinel_) return Closed; }
\*   if (next != nullptr) { head_ = next; return {Item, head}; }   else -> pop_tail
PopNext ==
  LET v == next[h] IN
  /\ pc[Consumer] = "pop_next"
  /\ IF h = Stub
       THEN IF v = Null
              THEN /\ pc' = [pc EXCEPT ![Consumer] = "pop_stub_tail"]
                   /\ UNCHANGED <<head, h, owner, popped>>
              ELSE /\ head' = v
                   /\ owner' = [owner EXCEPT ![Stub] = Consumer]   \* skipped: ours again
                   /\ UNCHANGED popped
                   /\ IF v = Sentinel
                        THEN /\ pc' = [pc EXCEPT ![Consumer] = "Done"]
                             /\ h' = Null
                        ELSE /\ pc' = [pc EXCEPT ![Consumer] = "pop_next_after_stub"]
                             /\ h' = v
       ELSE IF v # Null
              THEN PopItem(h, v)
              ELSE /\ pc' = [pc EXCEPT ![Consumer] = "pop_tail"]
                   /\ UNCHANGED <<head, h, owner, popped>>
  /\ UNCHANGED <<tail, closed, next, verdict, prev, verd, cb, k, last,
                 res, xafter, carries, began, closeXchg>>

\* next = head->next.load(acquire) after skipping the stub; then as above
PopNextAfterStub ==
  LET v == next[h] IN
  /\ pc[Consumer] = "pop_next_after_stub"
  /\ IF v # Null
       THEN PopItem(h, v)
       ELSE /\ pc' = [pc EXCEPT ![Consumer] = "pop_tail"]
            /\ UNCHANGED <<head, h, owner, popped>>
  /\ UNCHANGED <<tail, closed, next, verdict, prev, verd, cb, k, last,
                 res, xafter, carries, began, closeXchg>>

\* return tail_.load(seq_cst) == &stub_ ? Empty : Retry;
\* Either answer sends the consumer back to poll; the state does not record which.
PopStubTail ==
  /\ pc[Consumer] = "pop_stub_tail"
  /\ pc' = [pc EXCEPT ![Consumer] = "pop"]
  /\ h' = Null
  /\ UNCHANGED <<memVars, prev, verd, cb, k, last, ghostVars>>

\* if (tail_.load(seq_cst) != head) return Retry;  else publish(&stub_)
PopTail ==
  /\ pc[Consumer] = "pop_tail"
  /\ IF tail # h
       THEN /\ pc' = [pc EXCEPT ![Consumer] = "pop"]
            /\ h' = Null
       ELSE /\ pc' = [pc EXCEPT ![Consumer] = "pub_reset"]
            /\ UNCHANGED h
  /\ UNCHANGED <<memVars, prev, verd, cb, k, last, ghostVars>>

\* next = head->next.load(acquire); if (next != nullptr) { head_ = next; return Item; }
\* return Retry;
PopReload ==
  LET v == next[h] IN
  /\ pc[Consumer] = "pop_reload"
  /\ IF v # Null
       THEN PopItem(h, v)
       ELSE /\ pc' = [pc EXCEPT ![Consumer] = "pop"]
            /\ h' = Null
            /\ UNCHANGED <<head, owner, popped>>
  /\ UNCHANGED <<tail, closed, next, verdict, prev, verd, cb, k, last,
                 res, xafter, carries, began, closeXchg>>

Pop ==
  CASE pc[Consumer] = "pop"                 -> PopHead
    [] pc[Consumer] = "pop_next"            -> PopNext
    [] pc[Consumer] = "pop_next_after_stub" -> PopNextAfterStub
    [] pc[Consumer] = "pop_stub_tail"       -> PopStubTail
    [] pc[Consumer] = "pop_tail"            -> PopTail
    [] pc[Consumer] = "pop_reload"          -> PopReload
    [] OTHER                                -> FALSE

-----------------------------------------------------------------------------
\* close(), any thread; NC threads call it once each.
\* (BUG "closeorder": tail_ is exchanged before closed_ is set.)

\* if (closed_.fetch_or(kClosing, seq_cst) & kClosing) { wait for kSentinelIn; return; }
\* closed: 0 open, 1 closing (flag set), 2 the sentinel is in tail_.
\* (BUG "losernowait": the losing close() returns at once — the code before the fix.)
CloseFlag(c) ==
  /\ pc[c] = "close_flag"
  /\ closed' = IF closed = 0 THEN 1 ELSE closed
  /\ pc' = [pc EXCEPT ![c] = IF BUG = "closeorder" THEN "close_link"
                             ELSE IF closed # 0 THEN (IF BUG = "losernowait" THEN "Done"
                                                      ELSE "close_wait")
                             ELSE "close_xchg"]
  /\ UNCHANGED <<tail, head, next, verdict, prev, verd, cb, k, h, last,
                 owner, res, xafter, carries, began, popped, closeXchg>>

\* while ((closed_.load(acquire) & kSentinelIn) == 0) yield;  return   (a losing close())
CloseWait(c) ==
  /\ pc[c] = "close_wait"
  /\ closed = 2
  /\ pc' = [pc EXCEPT ![c] = "Done"]
  /\ UNCHANGED <<tail, head, closed, next, verdict, prev, verd, cb, k, h, last,
                 owner, res, xafter, carries, began, popped, closeXchg>>

\* closed_.fetch_or(kSentinelIn, release);   (lets a losing close() return)
CloseMark(c) ==
  /\ pc[c] = "close_mark"
  /\ closed' = 2
  /\ pc' = [pc EXCEPT ![c] = "close_link"]
  /\ UNCHANGED <<tail, head, next, verdict, prev, verd, cb, k, h, last,
                 owner, res, xafter, carries, began, popped, closeXchg>>

\* Node* last = tail_.exchange(&sentinel_, seq_cst);   (close's linearization point)
CloseXchg(c) ==
  /\ pc[c] = "close_xchg"
  /\ tail' = Sentinel
  /\ last' = [last EXCEPT ![c] = tail]
  /\ closeXchg' = TRUE
  /\ pc' = [pc EXCEPT ![c] = IF BUG = "closeorder" THEN "close_flag" ELSE "close_mark"]
  /\ UNCHANGED <<head, closed, next, verdict, prev, verd, cb, k, h,
                 owner, res, xafter, carries, began, popped>>

\* last->next.store(&sentinel_, release);  return
CloseLink(c) ==
  /\ pc[c] = "close_link"
  /\ next' = [next EXCEPT ![last[c]] = Sentinel]
  /\ last' = [last EXCEPT ![c] = Null]
  /\ pc' = [pc EXCEPT ![c] = "Done"]
  /\ UNCHANGED <<tail, head, closed, verdict, prev, verd, cb, k, h,
                 owner, res, xafter, carries, began, popped, closeXchg>>

Close(c) ==
  CASE pc[c] = "close_flag" -> CloseFlag(c)
    [] pc[c] = "close_xchg" -> CloseXchg(c)
    [] pc[c] = "close_mark" -> CloseMark(c)
    [] pc[c] = "close_wait" -> CloseWait(c)
    [] pc[c] = "close_link" -> CloseLink(c)
    [] OTHER                -> FALSE

-----------------------------------------------------------------------------
Thread(t) ==
  IF t \in Producers THEN Publish(t)
  ELSE IF t = Consumer THEN Pop \/ Publish(t)
  ELSE Close(t)

\* Everybody finished: stutter, so that termination is not reported as a deadlock.
AllDone == \A t \in Threads : pc[t] = "Done"
Terminating == AllDone /\ UNCHANGED vars

Next == (\E t \in Threads : Thread(t)) \/ Terminating

\* Weak fairness per thread: a thread that can go on does (spin-waits included).
Spec == Init /\ [][Next]_vars /\ \A t \in Threads : WF_vars(Thread(t))

-----------------------------------------------------------------------------
\* INVARIANTS

Labels == {"pub_reset", "pub_precheck", "pub_xchg", "pub_closed", "pub_wait",
           "pub_verdict", "pub_link", "settle_cas", "settle_wait",
           "pop", "pop_next", "pop_next_after_stub", "pop_stub_tail", "pop_tail",
           "pop_reload", "close_flag", "close_xchg", "close_mark", "close_wait",
           "close_link", "Done"}

TypeOK ==
  /\ tail \in Nodes /\ head \in Nodes /\ closed \in {0, 1, 2}
  /\ next \in [Nodes -> Nodes \cup {Null}]
  /\ verdict \in [Nodes -> Verdicts]
  /\ pc \in [Threads -> Labels]
  /\ prev \in [Threads -> Nodes \cup {Null}]
  /\ verd \in [Threads -> Verdicts \cup {"none"}]
  /\ cb \in [Threads -> BOOLEAN]
  /\ \A p \in Producers : k[p] \in 1..(Items[p] + 1)
  /\ h \in Nodes \cup {Null}
  /\ last \in [Closers -> Nodes \cup {Null}]
  /\ owner \in [Nodes -> {Inbox} \cup Threads]
  /\ carries \in [Nodes -> Nodes \cup ItemNodes]
  /\ res \in [ItemNodes -> {"none", "pushed", "closed"}]
  /\ xafter \in [ItemNodes -> BOOLEAN]
  /\ began \in [ItemNodes -> BOOLEAN]
  /\ \A i \in 1..Len(popped) : popped[i] \in ItemNodes
  /\ closeXchg \in BOOLEAN

PoppedSet == {popped[i] : i \in 1..Len(popped)}
Accepted  == {n \in ItemNodes : res[n] = "pushed"}

\* Nothing popped twice (and nothing but items popped: TypeOK).
NoDuplicate ==
  \A i, j \in 1..Len(popped) : i < j => popped[i] # popped[j]

\* Items of one producer are popped in the order it pushed them.
PerProducerFIFO ==
  \A i, j \in 1..Len(popped) :
     (i < j /\ ProducerOf(popped[i]) = ProducerOf(popped[j]))
        => SeqNoOf(popped[i]) < SeqNoOf(popped[j])

\* close()'s exchange of tail_ is the linearization point: a push returns Pushed
\* iff its exchange came before it.
NothingAcceptedAfterClose ==
  \A n \in ItemNodes :
     /\ res[n] = "pushed" => ~xafter[n]
     /\ res[n] = "closed" => xafter[n]

\* When the consumer has seen Closed, every item exchanged before close()'s exchange
\* has been popped; when everything has finished, exactly the accepted items were
\* popped (and the consumer did reach Closed: AllDone includes it).
NoLostItem ==
  /\ pc[Consumer] = "Done" =>
        \A n \in ItemNodes : (res[n] # "none" /\ ~xafter[n]) => n \in PoppedSet
  /\ AllDone => PoppedSet = Accepted

\* The node the next step of thread t reads or writes (fields next/verdict), if any.
Access(t) ==
  CASE pc[t] \in {"pub_reset", "pub_verdict", "settle_wait"} -> Cur(t)
    [] pc[t] \in {"pub_wait", "pub_link"}                     -> prev[t]
    [] pc[t] \in {"pop_next", "pop_next_after_stub", "pop_reload"} -> h
    [] pc[t] = "close_link"                                    -> last[t]
    [] OTHER                                                   -> Null

\* Ownership: a node is the inbox's from its exchange until pop() returns it or
\* push() returns Closed; then it is its owner's to reuse or free at once. Nobody
\* else may be about to touch a node that is not the inbox's (in particular not a
\* refused node once its push() has returned), only the owner resets a node, and
\* tail_/head_ never point at a node that is not the inbox's.
NoAccessAfterReturn ==
  /\ \A t \in Threads :
        Access(t) # Null =>
           \* (with reuse, R > 0, PubReset waits until the node is t's: the step is guarded)
           IF pc[t] = "pub_reset" THEN (R > 0 \/ owner[Access(t)] = t)
                                  ELSE owner[Access(t)] = Inbox
  /\ owner[tail] = Inbox
  /\ owner[head] = Inbox

\* The contract in the header of close(): "After close() returns, every later push
\* returns Closed" — in every thread that called it. MpscInboxTwoClosers.cfg checks it with
\* two closers; MpscInboxBuggyLoserNoWait.cfg shows the code before the fix violating it.
CloseIsFinal ==
  \A n \in ItemNodes : res[n] = "pushed" => ~began[n]

\* Issue 10: a push that began after close() returned is refused at once: it never waits
\* for another producer's verdict or link (MpscInboxBuggyLateRefusal.cfg: the code before
\* the fix violates it; the convoy of refused pushes the event-loop soak crawled through).
RefusalNeverWaits ==
  \A p \in Producers :
     pc[p] \in {"pub_wait", "settle_wait"} => ~began[It(p)]

\* pop() may wait inside the call, only after close() began, bounded by one producer's
\* progress (mpsc_inbox.hpp says so since this model found it): MpscInboxPopWaits.cfg.
PopNeverWaits ==
  /\ ~(pc[Consumer] = "pub_wait" /\ verdict[prev[Consumer]] = "unknown")
  /\ ~(pc[Consumer] = "settle_wait" /\ next[Stub] = Null)

-----------------------------------------------------------------------------
\* LIVENESS (under WF per thread). Written as <>P, not P ~> Q: tla-checker 0.9.0
\* misses ~> violations whose cycle has no P-state when fairness is present (see
\* README). Every push is made in every behavior, so these say what P ~> Q would.

\* Every push eventually returns.
EveryPushReturns ==
  \A n \in ItemNodes : <>(res[n] # "none")

\* Every accepted item is eventually popped.
EveryAcceptedItemPopped ==
  \A n \in ItemNodes : <>(res[n] # "none" /\ (res[n] = "pushed" => n \in PoppedSet))

\* The consumer eventually answers Closed.
ConsumerSeesClosed == <>(pc[Consumer] = "Done")

=============================================================================
