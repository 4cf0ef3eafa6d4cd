// The region's two small tables of notes a child leaves for the poller: revocations made
// here before the database has them, and sightings of sessions with no activity slot.
#include <algorithm>
#include <vector>

#include "deny_region_layout.hpp"

namespace sg {

using namespace region;

namespace {
struct NoteCopy {
  bool stable = false;  // false: being written (or left half written) the whole time we looked
  std::uint64_t sequence = 0;
  std::uint64_t tag = 0;
  Fingerprint fingerprint;
  Micros at = 0;
  std::uint32_t reason = 0;
};

template <typename Slot>
NoteCopy read_note(const Slot& slot) {
  NoteCopy copy;
  for (int attempt = 0; attempt < kReadRetries; ++attempt) {
    std::uint64_t before = slot.sequence.load(std::memory_order_acquire);
    if (before % 2 != 0) continue;
    copy.tag = slot.tag.load(std::memory_order_relaxed);
    copy.fingerprint = slot.fingerprint;
    copy.at = slot.at.load(std::memory_order_relaxed);
    copy.reason = slot.reason.load(std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (slot.sequence.load(std::memory_order_relaxed) == before) {
      copy.stable = true;
      copy.sequence = before;
      return copy;
    }
  }
  return copy;
}

// Takes a slot whose sequence is still `sequence` (even) for writing; the caller ends with
// end_note_write. Another writer, or the poller, got there first when this fails.
template <typename Slot>
bool begin_note_write(Slot& slot, std::uint64_t sequence) {
  return slot.sequence.compare_exchange_strong(sequence, sequence + 1, std::memory_order_acq_rel);
}

template <typename Slot>
void end_note_write(Slot& slot, std::uint64_t sequence) {
  // A CAS rather than a store: if the poller took this slot for a dead writer's meanwhile,
  // its repair stands and this write is lost (the database still has the revocation).
  std::uint64_t writing = sequence + 1;
  slot.sequence.compare_exchange_strong(writing, sequence + 2, std::memory_order_acq_rel);
}
}  // namespace

Reason DenyRegion::local_revoked(const Fingerprint& fp) const {
  const std::uint64_t tag = tag_of(fp);
  const NoteSlot* slots = local_slots();
  const std::uint32_t capacity = header()->capacity.local;
  for (int i = 0; i < kLocalProbe; ++i) {
    const NoteSlot& slot = slots[(tag + static_cast<std::uint64_t>(i)) % capacity];
    if (slot.tag.load(std::memory_order_acquire) != tag) continue;
    NoteCopy copy = read_note(slot);
    if (copy.stable && copy.tag == tag && copy.fingerprint == fp && copy.reason != 0 &&
        copy.reason <= static_cast<std::uint32_t>(Reason::refused)) {
      return static_cast<Reason>(copy.reason);
    }
  }
  return Reason::none;
}

bool DenyRegion::revoke_locally(const Fingerprint& fp, Reason reason, Micros now) {
  if (reason == Reason::none) return false;
  Header* h = header();
  const std::uint64_t tag = tag_of(fp);
  NoteSlot* slots = local_slots();
  const std::uint32_t capacity = h->capacity.local;
  // Counted before the entry exists, so no reader ever skips the table while it is live.
  h->local_hint.fetch_add(1, std::memory_order_seq_cst);
  for (int attempt = 0; attempt < 3; ++attempt) {
    // The fingerprint's own slot if it has one, else a free one, else the oldest entry.
    NoteSlot* best = nullptr;
    NoteCopy best_copy;
    int best_rank = 3;
    for (int i = 0; i < kLocalProbe; ++i) {
      NoteSlot& slot = slots[(tag + static_cast<std::uint64_t>(i)) % capacity];
      NoteCopy copy = read_note(slot);
      if (!copy.stable) continue;
      int rank = (copy.tag == tag && copy.fingerprint == fp) ? 0 : copy.tag == kEmptyTag ? 1 : 2;
      if (rank < best_rank || (rank == 2 && best_rank == 2 && copy.at < best_copy.at)) {
        best = &slot;
        best_copy = copy;
        best_rank = rank;
      }
      if (rank == 0) break;
    }
    if (best == nullptr || !begin_note_write(*best, best_copy.sequence)) continue;
    best->tag.store(kEmptyTag, std::memory_order_relaxed);
    best->fingerprint = fp;
    best->at.store(now, std::memory_order_relaxed);
    best->reason.store(static_cast<std::uint32_t>(reason), std::memory_order_relaxed);
    best->tag.store(tag, std::memory_order_release);
    end_note_write(*best, best_copy.sequence);
    // The entry this one replaced was counted by its own writer.
    if (best_copy.tag != kEmptyTag) h->local_hint.fetch_sub(1, std::memory_order_acq_rel);
    if (best_rank == 2) h->local_overwritten.fetch_add(1, std::memory_order_relaxed);
    h->local_revocations.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  h->local_hint.fetch_sub(1, std::memory_order_acq_rel);
  return false;
}

void DenyRegion::sweep_local(Micros now, bool expire) {
  Header* h = header();
  for (std::uint32_t i = 0; i < h->capacity.local; ++i) {
    NoteSlot& slot = local_slots()[i];
    std::uint64_t sequence = slot.sequence.load(std::memory_order_acquire);
    if (sequence % 2 != 0) {
      // A write takes nanoseconds; odd at two sweeps in a row is a writer that died inside.
      if (slot.stuck == sequence) {
        slot.tag.store(kEmptyTag, std::memory_order_relaxed);
        std::uint64_t expected = sequence;
        slot.sequence.compare_exchange_strong(expected, sequence + 1, std::memory_order_acq_rel);
      }
      slot.stuck = sequence;
      continue;
    }
    slot.stuck = 0;
    NoteCopy copy = read_note(slot);
    if (!copy.stable || copy.tag == kEmptyTag) continue;
    bool published = read_consistent([&](const SnapshotView& view) {
      return std::binary_search(view.sessions, view.sessions + view.session_count, SessionEntry{copy.fingerprint, 0, {}},
                                [](const SessionEntry& a, const SessionEntry& b) { return a.fingerprint < b.fingerprint; });
    });
    if (!published && !(expire && copy.at < now - kLocalRetention)) continue;
    if (!begin_note_write(slot, copy.sequence)) continue;  // rewritten meanwhile: next sweep
    slot.tag.store(kEmptyTag, std::memory_order_release);
    end_note_write(slot, copy.sequence);
    h->local_hint.fetch_sub(1, std::memory_order_acq_rel);
  }
  for (std::uint32_t i = 0; i < h->capacity.sightings; ++i) {
    NoteSlot& slot = sighting_slots()[i];
    std::uint64_t sequence = slot.sequence.load(std::memory_order_acquire);
    if (sequence % 2 != 0 && slot.stuck == sequence) {
      slot.tag.store(kEmptyTag, std::memory_order_relaxed);
      std::uint64_t expected = sequence;
      slot.sequence.compare_exchange_strong(expected, sequence + 1, std::memory_order_acq_rel);
    }
    slot.stuck = sequence % 2 != 0 ? sequence : 0;
  }
}

void DenyRegion::note_sighting(const Fingerprint& fp, Micros now) {
  const std::uint64_t tag = tag_of(fp);
  NoteSlot* slots = sighting_slots();
  const std::uint32_t capacity = header()->capacity.sightings;
  NoteSlot* target = nullptr;
  std::uint64_t sequence = 0;
  for (int i = 0; i < kSightingProbe; ++i) {
    NoteSlot& slot = slots[(tag + static_cast<std::uint64_t>(i)) % capacity];
    std::uint64_t seen = slot.tag.load(std::memory_order_acquire);
    if (seen == tag) return;  // noted already (a rare tag collision only delays a lookup)
    if (target == nullptr && seen == kEmptyTag) {
      target = &slot;
      sequence = slot.sequence.load(std::memory_order_acquire);
    }
  }
  // Full: lossy by design, the next request of a real session notes it again.
  if (target == nullptr || sequence % 2 != 0 || !begin_note_write(*target, sequence)) return;
  target->fingerprint = fp;
  target->at.store(now, std::memory_order_relaxed);
  target->tag.store(tag, std::memory_order_release);
  end_note_write(*target, sequence);
}

std::vector<ActivityRecord> DenyRegion::take_sightings() {
  std::vector<ActivityRecord> seen;
  for (std::uint32_t i = 0; i < header()->capacity.sightings; ++i) {
    NoteSlot& slot = sighting_slots()[i];
    if (slot.tag.load(std::memory_order_acquire) == kEmptyTag) continue;
    NoteCopy copy = read_note(slot);
    if (!copy.stable || copy.tag == kEmptyTag || !begin_note_write(slot, copy.sequence)) continue;
    slot.tag.store(kEmptyTag, std::memory_order_release);
    end_note_write(slot, copy.sequence);
    seen.push_back(ActivityRecord{copy.fingerprint, copy.at});
  }
  return seen;
}

}  // namespace sg
