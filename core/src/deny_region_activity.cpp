// The region's activity table: a slot per bound session, claimed by compare-and-swap, that
// children stamp on every request and the poller drains to the database.
#include <algorithm>
#include <vector>

#include "deny_region_layout.hpp"

namespace sg {

using namespace region;

DenyRegion::Found DenyRegion::find_activity(const Fingerprint& fp, bool create, Micros now) const {
  const Header* h = header();
  std::uint64_t tag = tag_of(fp);
  ActivitySlot* slots = activity_slots();
  std::uint32_t capacity = h->capacity.activity;
  ActivitySlot* empty = nullptr;
  // Scan the whole probe window rather than stopping at a hole: the poller frees slots,
  // so a hole does not prove the key is absent further on.
  for (int i = 0; i < kActivityProbe; ++i) {
    ActivitySlot* slot = &slots[(tag + static_cast<std::uint64_t>(i)) % capacity];
    std::uint64_t seen = slot->tag.load(std::memory_order_acquire);
    if (seen == tag) {
      std::uint64_t generation = slot->generation.load(std::memory_order_acquire);
      bool same = slot->fingerprint == fp;
      std::atomic_thread_fence(std::memory_order_acquire);
      // Still the same claim after reading the fingerprint: freed and claimed again between
      // the loads would have moved the tag through empty and the generation on.
      if (same && slot->tag.load(std::memory_order_relaxed) == tag &&
          slot->generation.load(std::memory_order_relaxed) == generation) {
        return Found{slot, generation};
      }
    }
    if (seen == kEmptyTag && empty == nullptr) empty = slot;
  }
  if (!create) return {};
  for (int attempt = 0; empty != nullptr && attempt < 2; ++attempt) {
    std::uint64_t expected = kEmptyTag;
    if (empty->tag.compare_exchange_strong(expected, kClaimingTag, std::memory_order_acq_rel)) {
      empty->fingerprint = fp;
      empty->last_seen.store(now, std::memory_order_relaxed);
      empty->flushed.store(0, std::memory_order_relaxed);
      empty->bound_user_tag.store(0, std::memory_order_relaxed);
      empty->bound_generation.store(0, std::memory_order_relaxed);
      empty->user_length.store(0, std::memory_order_relaxed);
      std::uint64_t generation = empty->generation.fetch_add(1, std::memory_order_acq_rel) + 1;
      empty->tag.store(tag, std::memory_order_release);
      return Found{empty, generation};
    }
    empty = nullptr;
    for (int i = 0; i < kActivityProbe && empty == nullptr; ++i) {
      ActivitySlot* slot = &slots[(tag + static_cast<std::uint64_t>(i)) % capacity];
      if (slot->tag.load(std::memory_order_acquire) == kEmptyTag) empty = slot;
    }
  }
  header()->activity_dropped.fetch_add(1, std::memory_order_relaxed);
  return {};
}

namespace {
// A compare-and-swap from the value read: if the poller freed the slot and another session
// claimed it meanwhile, the claim reset last_seen and this write is dropped, not misfiled.
template <typename Slot>
void note_seen(Slot& slot, Micros now, Micros resolution) {
  Micros seen = slot.last_seen.load(std::memory_order_relaxed);
  while (now - seen >= resolution) {
    if (slot.last_seen.compare_exchange_weak(seen, now, std::memory_order_relaxed)) return;
  }
}
}  // namespace

void DenyRegion::record_activity(const Fingerprint& fp, Micros now) {
  Found found = find_activity(fp, false, now);
  if (found.slot == nullptr) return note_sighting(fp, now);
  note_seen(*found.slot, now, 1);
}

std::optional<DenyRegion::Owner> DenyRegion::touch(const Fingerprint& fp, Micros now) {
  Found found = find_activity(fp, false, now);
  if (found.slot == nullptr) {
    note_sighting(fp, now);
    return std::nullopt;
  }
  note_seen(*found.slot, now, kActivityResolution);
  return read_owner(*found.slot, found.generation);
}

bool DenyRegion::bound_to(const Fingerprint& fp, const Fingerprint& user) const {
  Found found = find_activity(fp, false, 0);
  if (found.slot == nullptr) return false;
  const ActivitySlot& slot = *found.slot;
  std::uint64_t tag = slot.bound_user_tag.load(std::memory_order_acquire);
  std::uint64_t bound_generation = slot.bound_generation.load(std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_acquire);
  return tag == tag_of(user) && bound_generation == found.generation &&
         slot.bound_user_tag.load(std::memory_order_relaxed) == tag &&
         slot.generation.load(std::memory_order_relaxed) == found.generation;
}

void DenyRegion::mark_bound(const Fingerprint& fp, const Fingerprint& user, Micros now, std::string_view username) {
  Found found = find_activity(fp, true, now);
  if (found.slot == nullptr) return;
  ActivitySlot& slot = *found.slot;
  // One writer of the owner at a time, so a name and a key from two writers never mix; a
  // writer that died holding it is taken over after a while rather than waited for.
  std::uint64_t current = slot.bound_user_tag.load(std::memory_order_acquire);
  for (int spins = 0;; ++spins) {
    if (current == kBindingTag && spins < 100000) {
      current = slot.bound_user_tag.load(std::memory_order_acquire);
      continue;
    }
    if (slot.bound_user_tag.compare_exchange_weak(current, kBindingTag, std::memory_order_acq_rel)) break;
  }
  std::size_t length = username.size() <= kMaxSlotUser ? username.size() : 0;
  if (length > 0) std::memcpy(slot.user, username.data(), length);  // data() may be null when empty
  slot.user_key = user;
  slot.user_length.store(static_cast<std::uint32_t>(length), std::memory_order_relaxed);
  // Names the claim this binding is for: if the slot was freed and claimed by another
  // session since find_activity, readers of that session reject this binding.
  slot.bound_generation.store(found.generation, std::memory_order_relaxed);
  slot.bound_user_tag.store(tag_of(user), std::memory_order_release);
}

std::optional<DenyRegion::Owner> DenyRegion::read_owner(const ActivitySlot& slot, std::uint64_t generation) {
  std::uint64_t tag = slot.bound_user_tag.load(std::memory_order_acquire);
  if (tag < 2) return std::nullopt;
  std::uint32_t length = std::min<std::uint32_t>(slot.user_length.load(std::memory_order_relaxed), kMaxSlotUser);
  Owner owner{std::string(slot.user, length), slot.user_key};
  std::uint64_t bound_generation = slot.bound_generation.load(std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_acquire);
  if (length == 0 || slot.bound_user_tag.load(std::memory_order_relaxed) != tag || tag_of(owner.key) != tag ||
      bound_generation != generation || slot.generation.load(std::memory_order_relaxed) != generation) {
    return std::nullopt;
  }
  return owner;
}

std::optional<DenyRegion::Owner> DenyRegion::owner(const Fingerprint& fp) const {
  Found found = find_activity(fp, false, 0);
  if (found.slot == nullptr) return std::nullopt;
  return read_owner(*found.slot, found.generation);
}

std::string DenyRegion::bound_user(const Fingerprint& fp) const {
  auto found = owner(fp);
  return found ? found->name : std::string();
}

std::vector<ActivityRecord> DenyRegion::pending_activity(Micros forget_before) {
  std::vector<ActivityRecord> pending;
  ActivitySlot* slots = activity_slots();
  std::uint32_t used = 0;  // counted here, where the whole table is walked anyway
  for (std::uint32_t i = 0; i < header()->capacity.activity; ++i) {
    ActivitySlot& slot = slots[i];
    std::uint64_t tag = slot.tag.load(std::memory_order_acquire);
    if (tag < 2) continue;
    ++used;
    Micros seen = slot.last_seen.load(std::memory_order_relaxed);
    Micros flushed = slot.flushed.load(std::memory_order_relaxed);
    if (seen > flushed) {
      pending.push_back(ActivityRecord{slot.fingerprint, seen});
    } else if (seen < forget_before && slot.tag.compare_exchange_strong(tag, kClaimingTag, std::memory_order_acq_rel)) {
      --used;
      // Held as claiming, so no child claims it while the generation moves on; a child
      // still holding the old generation can no longer bind it or count it as seen.
      slot.generation.fetch_add(1, std::memory_order_acq_rel);
      slot.bound_user_tag.store(0, std::memory_order_relaxed);
      slot.tag.store(kEmptyTag, std::memory_order_release);
    }
  }
  header()->activity_used.store(used, std::memory_order_relaxed);
  // Two children may claim slots for one new session at the same moment: report it once.
  std::sort(pending.begin(), pending.end(), [](const ActivityRecord& a, const ActivityRecord& b) {
    return a.fingerprint < b.fingerprint || (a.fingerprint == b.fingerprint && a.last_seen > b.last_seen);
  });
  pending.erase(std::unique(pending.begin(), pending.end(),
                            [](const ActivityRecord& a, const ActivityRecord& b) { return a.fingerprint == b.fingerprint; }),
                pending.end());
  return pending;
}

void DenyRegion::mark_flushed(const std::vector<ActivityRecord>& flushed) {
  ActivitySlot* slots = activity_slots();
  const std::uint32_t capacity = header()->capacity.activity;
  for (const auto& record : flushed) {
    const std::uint64_t tag = tag_of(record.fingerprint);
    for (int i = 0; i < kActivityProbe; ++i) {
      ActivitySlot* slot = &slots[(tag + static_cast<std::uint64_t>(i)) % capacity];
      if (slot->tag.load(std::memory_order_acquire) != tag || !(slot->fingerprint == record.fingerprint)) continue;
      Micros current = slot->flushed.load(std::memory_order_relaxed);
      if (record.last_seen > current) slot->flushed.store(record.last_seen, std::memory_order_relaxed);
    }
  }
}

}  // namespace sg
