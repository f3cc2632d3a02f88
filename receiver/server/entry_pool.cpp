#include "receiver/server/entry_pool.hpp"

#include "common/log.hpp"

namespace relay::receiver {

struct EntryPool::Fill {
  uv_work_t req{};
  EntryPool* pool = nullptr;
  const spool::Spool* spool = nullptr;
  std::size_t want = 0;
  std::vector<spool::NewEntry> made;
  std::string error;
};

std::optional<spool::NewEntry> EntryPool::take() {
  std::uint64_t now = uv_now(loop_);
  if (now - window_start_ >= 1000) {
    window_start_ = now;
    window_count_ = 0;
  }
  if (++window_count_ >= kBusyRate) {
    active_ = true;
    last_busy_ = now;
  }
  while (!ready_.empty()) {
    Pooled p = std::move(ready_.front());
    ready_.pop_front();
    if (now - p.created_ms <= kMaxAgeMs) {
      refill();
      return std::move(p.entry);
    }
    // too old: p.entry rolls back here
  }
  refill();
  return std::nullopt;
}

void EntryPool::tick() {
  if (active_ && uv_now(loop_) - last_busy_ > kIdleMs) {
    active_ = false;
    ready_.clear();  // rolls the pooled tmp/ files back
  }
  refill();
}

void EntryPool::refill() {
  if (closed_ || filling_ || !active_) return;
  std::uint64_t now = uv_now(loop_);
  while (!ready_.empty() && now - ready_.front().created_ms > kMaxAgeMs) ready_.pop_front();
  if (ready_.size() >= target_ / 2 && !ready_.empty()) return;
  auto* f = new Fill;
  f->pool = this;
  f->spool = &spool_;
  f->want = target_ - ready_.size();
  f->req.data = f;
  filling_ = true;
  if (uv_queue_work(loop_, &f->req, work, after) != 0) {
    filling_ = false;
    delete f;
  }
}

void EntryPool::work(uv_work_t* req) {
  auto* f = static_cast<Fill*>(req->data);
  f->made.reserve(f->want);
  for (std::size_t i = 0; i < f->want; ++i) {
    spool::Status st;
    auto e = f->spool->create(spool::Envelope{}, &st);
    if (!e) {
      f->error = st.message;
      break;
    }
    f->made.push_back(std::move(*e));
  }
}

void EntryPool::after(uv_work_t* req, int) {
  std::unique_ptr<Fill> f(static_cast<Fill*>(req->data));
  EntryPool* pool = f->pool;
  pool->filling_ = false;
  if (pool->closed_ || !pool->active_) return;  // f->made rolls back
  if (!f->error.empty() && f->error != pool->last_error_) {
    log::error("event=spool_error op=precreate error={}", log::quote(f->error));
  }
  pool->last_error_ = f->error;
  std::uint64_t now = uv_now(pool->loop_);
  for (auto& e : f->made) pool->ready_.push_back(Pooled{now, std::move(e)});
}

void EntryPool::close() {
  closed_ = true;
  ready_.clear();
}

}  // namespace relay::receiver
