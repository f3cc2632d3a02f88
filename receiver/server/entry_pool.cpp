#include "receiver/server/entry_pool.hpp"

#include "common/log.hpp"

namespace relay::receiver {

EntryPool::EntryPool(uv_loop_t* loop, const spool::Spool& spool, std::size_t target)
    : loop_(loop), spool_(spool), target_(target) {
  async_ = new uv_async_t;
  uv_async_init(loop_, async_, on_made);
  async_->data = this;
  // Not a reference handle: an idle pool must not keep the loop running.
  uv_unref(reinterpret_cast<uv_handle_t*>(async_));
  creator_ = std::thread([this] { run(); });
}

EntryPool::~EntryPool() {
  stop_creator();
  // If close() never ran, the loop's final uv_walk closes the handle; it
  // must no longer point at us.
  if (async_) async_->data = nullptr;
}

void EntryPool::stop_creator() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (creator_.joinable()) creator_.join();
  made_.clear();  // rolls back whatever was made after the last hand-over
}

void EntryPool::run() {
  std::unique_lock lk(mu_);
  for (;;) {
    cv_.wait(lk, [this] { return stop_ || want_ > 0; });
    if (stop_) return;
    lk.unlock();
    spool::Status st;
    auto e = spool_.create(spool::Envelope{}, &st);
    lk.lock();
    if (e) {
      made_.push_back(std::move(*e));
      if (want_ > 0) --want_;
    } else {
      error_ = st.message;
      want_ = 0;  // no retry loop against a full or broken disk; next take() asks again
    }
    if (async_) uv_async_send(async_);
  }
}

void EntryPool::on_made(uv_async_t* a) {
  auto* self = static_cast<EntryPool*>(a->data);
  if (!self) return;
  std::vector<spool::NewEntry> made;
  std::string error;
  {
    std::lock_guard lk(self->mu_);
    made.swap(self->made_);
    error.swap(self->error_);
  }
  if (!error.empty() && error != self->last_error_) {
    log::error("event=spool_error op=precreate error={}", log::quote(error));
  }
  if (!made.empty() || !error.empty()) self->last_error_ = error;
  if (self->closed_ || !self->active_) return;  // `made` rolls back here
  std::uint64_t now = uv_now(self->loop_);
  for (auto& e : made) self->ready_.push_back(Pooled{now, std::move(e)});
}

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
    std::lock_guard lk(mu_);
    want_ = 0;
  }
  refill();
}

void EntryPool::refill() {
  if (closed_ || !active_) return;
  std::uint64_t now = uv_now(loop_);
  while (!ready_.empty() && now - ready_.front().created_ms > kMaxAgeMs) ready_.pop_front();
  {
    std::lock_guard lk(mu_);
    std::size_t have = ready_.size() + made_.size() + want_;
    if (have >= target_) return;
    want_ += target_ - have;
  }
  cv_.notify_one();
}

void EntryPool::close() {
  if (closed_) return;
  closed_ = true;
  stop_creator();
  ready_.clear();
  if (async_) {
    async_->data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(async_),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_async_t*>(h); });
    async_ = nullptr;
  }
}

}  // namespace relay::receiver
