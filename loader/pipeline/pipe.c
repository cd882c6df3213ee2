/* The pipeline's threads and queues, and its consumer side. One mutex and
 * one condition variable guard the slot ring: stages hand slots on at batch
 * granularity, so the lock is taken a few times per batch and never held
 * while a stage works. Each stage takes slots in sequence order; a stage
 * with several threads (read) may finish them out of order, and the next
 * stage still takes them in order. In whole-batch mode (CPU backend: small
 * batches, or a ring slot for every thread) there is one kind of thread: it
 * takes the sampler's next batch in order (under a plan lock of its own,
 * not the ring's) and runs the rest of the stages on it unlocked, in
 * parallel with the other threads' batches. */
#include "pipeline/pipe_impl.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gpu.h"
#include "pipeline/dist.h"

static const char *const STAGE_NAMES[N_STAGES] = {"plan", "read", "decode", "upload", "ops", "batch"};

typedef bfd_status (*stage_fn)(bfdi_pipe *, bfdi_worker *, bfdi_slot *);
static const stage_fn STAGE_FNS[N_STAGES] = {bfdi_stage_plan,   bfdi_stage_read, bfdi_stage_decode,
                                              bfdi_stage_upload, bfdi_stage_ops,  bfdi_stage_batch};

enum { WAIT_IN = 1, WAIT_OUT = 2 };

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* ---- creation ---- */

static bfd_status choose_device(bfdi_pipe *p) {
  const bfdi_job *j = &p->job;
#if BFD_CUDA
  int count = 0;
  BFD_TRY(bfdk_gpu_count(&count));
  if (j->device == BFDI_DEVICE_CUDA && count == 0)
    return bfdi_fail(BFD_ERR_CUDA, "%s:%lu: device: cuda, but no CUDA device is visible (check nvidia-smi and "
                     "CUDA_VISIBLE_DEVICES), or use device: cpu or auto", j->file, j->line_device);
  /* auto never picks the test build's emulator: it is a checking tool, not a backend */
  p->cuda = j->device == BFDI_DEVICE_CUDA || (j->device == BFDI_DEVICE_AUTO && count > 0 && !bfdk_gpu_emulated());
  if (p->cuda) BFD_TRY(bfdk_gpu_current(&p->device_id));
#else
  if (j->device == BFDI_DEVICE_CUDA)
    return bfdi_fail(BFD_ERR_UNSUPPORTED, "%s:%lu: device: cuda, but this biofeed was built without CUDA (CUDA=0); "
                     "use device: cpu or auto, or rebuild with nvcc", j->file, j->line_device);
  p->cuda = 0;
#endif
  return BFD_OK;
}

static bfd_status make_sampler(bfdi_pipe *p, bfdi_sampler **out) {
  const bfdi_job *j = &p->job;
  const bfdi_source *src = p->src;
  bfdi_sampler_dataset *ds = calloc(src->n_ds, sizeof *ds);
  if (!ds) return bfdi_fail(BFD_ERR_NOMEM, "out of memory");
  for (size_t d = 0; d < src->n_ds; d++)
    ds[d] = (bfdi_sampler_dataset){src->ds[d].shard_samples, src->ds[d].n_shards, j->datasets[d].weight};
  uint64_t window = (uint64_t)j->bucket_window * j->batch_size;
  bfdi_sampler_config c = {
      .datasets = ds,
      .n_datasets = src->n_ds,
      .seed = j->seed,
      .shuffle = j->order != BFDI_ORDER_NONE,
      .window_shards = j->order == BFDI_ORDER_SHARDS ? j->shard_window : 0,
      .batching = (bfdi_batching)j->batching,
      .batch = j->batch_size,
      .drop_last = j->drop_last,
      .bucket_batches = j->bucket_window,
      .max_tokens = j->max_tokens,
      .token_window = (uint32_t)(window < BFDI_SAMPLER_MAX_WINDOW ? window : BFDI_SAMPLER_MAX_WINDOW),
      .length = src->kind == BFD_KIND_SEQUENCE ? bfdi_source_length : NULL,
      .length_ctx = p->src,
      .world_size = p->world,
  };
  bfd_status st = bfdi_sampler_create(&c, out);
  free(ds);
  return st == BFD_OK ? st : bfdi_wrap(st, "%s", j->file);
}

static bfd_status check_job(const bfdi_pipe *p) {
  const bfdi_job *j = &p->job;
  if (p->src->kind == BFD_KIND_IMAGE && j->batching != BFDI_BATCH_FIXED)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "%s:%lu: sampling.batching: bucket and tokens group sequences by length; "
                     "image datasets take batching: fixed", j->file, j->line_batching);
  return BFD_OK;
}

/* The step index of cursor c within its epoch. */
static bfd_status step_of(bfdi_sampler *s, bfdi_cursor c, uint64_t *step) {
  uint64_t total, left;
  BFD_TRY(bfdi_sampler_steps(s, (bfdi_cursor){c.epoch, 0}, &total));
  BFD_TRY(bfdi_sampler_steps(s, c, &left));
  *step = total > left ? total - left : 0;
  return BFD_OK;
}

static void destroy(bfdi_pipe *p) {
  bfdi_slots_free(p);
#if BFD_CUDA
  bfdk_gpu_stream_destroy(p->copy_stream);
  bfdk_gpu_stream_destroy(p->compute_stream);
  bfdk_gpu_free(p->d_tables);
#endif
  free(p->tables);
  bfdi_sampler_destroy(p->plan_sampler);
  bfdi_sampler_destroy(p->api_sampler);
  bfdi_security_close(p);
  bfdi_cache_free(p);
  bfdi_source_free(p->src);
  bfdi_dist_close(p);
  bfdi_job_free(&p->job);
  for (int k = 0; k <= N_STAGES; k++) pthread_cond_destroy(&p->cv[k]);
  pthread_mutex_destroy(&p->plan_mu);
  pthread_mutex_destroy(&p->mu);
  free(p);
}

/* Host bytes of a slot below which a batch costs about as much as handing
 * it from thread to thread four times (mutex, condition variable, a
 * context switch on a busy CPU and cold caches each time). */
#define WHOLE_BATCH_BYTES (4u << 20)

/* Whole-batch mode, the CPU backend's choice when the stages' hand-overs
 * cost as much as their work (small batches), or when the ring has a slot
 * for each of io.workers + 1 threads besides the consumer's (prefetch >=
 * io.workers + 1): each thread then runs batches from plan to ready, one
 * batch per thread at a time, with no OpenMP team, so no thread spins
 * waiting for a team and the cores share no batch. With more cores than
 * slots, the stages run on their own threads with OpenMP teams instead.
 * Not in broadcast and exchange modes: their collectives run in step order
 * on the stage threads. */
static int whole_batches(const bfdi_pipe *p) {
  return !p->cuda && !p->dist && (p->host_slot_bytes <= WHOLE_BATCH_BYTES || p->job.workers + 1 <= p->job.prefetch);
}

/* Whole batches: small ones reach a waiting consumer in groups of up to
 * this many. Waking a sleeping thread on another core costs the waker an
 * inter-processor interrupt (a VM exit on cloud machines): tens of
 * microseconds, as much as a small batch takes. The ring keeps a slot for
 * each thread besides the group, and a thread that is about to sleep hands
 * over what it holds back first, so a group never waits on itself. */
#define MAX_GROUP 4

static int group_size(const bfdi_pipe *p) {
  int spare = p->R - ((int)p->job.workers + 1);
  if (!p->whole || p->host_slot_bytes > WHOLE_BATCH_BYTES || spare < 2) return 1;
  return spare < MAX_GROUP ? spare : MAX_GROUP;
}

static bfd_status setup(bfdi_pipe *p, const bfdi_dist_env *env) {
  BFD_TRY(choose_device(p));
  BFD_TRY(bfdi_dist_open(p, env));
  BFD_TRY(bfdi_source_open(&p->job, &p->src));
  BFD_TRY(bfdi_security_open(p));
  BFD_TRY(check_job(p));
  BFD_TRY(make_sampler(p, &p->plan_sampler));
  BFD_TRY(make_sampler(p, &p->api_sampler));
  p->max_batch = bfdi_sampler_max_batch(p->plan_sampler);
  BFD_TRY(bfdi_dist_setup(p));
  if (p->src->kind == BFD_KIND_SEQUENCE) {
    const bfd_seq_config *sc = &p->job.seq;
    p->kp = sc->params;
    p->kp.sample_mode = BFD_SEQ_RECORD;
    p->kp.shift = 0;
    p->attempts = sc->params.sample_mode != BFD_SEQ_RECORD && sc->params.max_n_frac < 1.0 ? sc->params.max_attempts : 1;
    size_t count;
    BFD_TRY(bfdk_seq_tables_build(&sc->vocab, sc->case_mode, &p->tables, &count));
#if BFD_CUDA
    if (p->cuda) BFD_TRY(bfdk_seq_cuda_upload(p->tables, count * sizeof *p->tables, &p->d_tables));
#endif
  }
#if BFD_CUDA
  if (p->cuda) {
    BFD_TRY(bfdk_gpu_stream_create(&p->copy_stream));
    BFD_TRY(bfdk_gpu_stream_create(&p->compute_stream));
  }
#endif
  BFD_TRY(bfdi_cache_measure(p));
  BFD_TRY(bfdi_slots_create(p));
  BFD_TRY(bfdi_cache_load(p));
  p->whole = whole_batches(p);
  p->team_spare = (int)p->job.workers - 1;
  p->group = group_size(p);
  return bfdi_dist_slots(p);
}

bfd_status bfdi_pipe_create(bfdi_job *job, uint32_t rank, uint32_t world, bfdi_pipe **out) {
  bfdi_dist_env env;
  memset(&env, 0, sizeof env);
  env.launcher = BFDI_LAUNCHER_EXPLICIT;
  env.rank = rank;
  env.world_size = world;
  env.local_rank = env.local_size = env.node = -1;
  snprintf(env.rank_from, sizeof env.rank_from, "explicit");
  snprintf(env.world_from, sizeof env.world_from, "explicit");
  return bfdi_pipe_create_env(job, &env, out);
}

bfd_status bfdi_pipe_create_env(bfdi_job *job, const bfdi_dist_env *env, bfdi_pipe **out) {
  *out = NULL;
  bfdi_pipe *p = calloc(1, sizeof *p);
  if (!p) {
    bfdi_job_free(job);
    return bfdi_fail(BFD_ERR_NOMEM, "out of memory");
  }
  p->job = *job;
  memset(job, 0, sizeof *job);
  pthread_mutex_init(&p->mu, NULL);
  pthread_mutex_init(&p->plan_mu, NULL);
  for (int k = 0; k <= N_STAGES; k++) pthread_cond_init(&p->cv[k], NULL);
  bfd_status st = setup(p, env);
  if (st != BFD_OK) {
    st = bfdi_dist_fail(p, st);
    destroy(p);
    return st;
  }
  *out = p;
  return BFD_OK;
}

/* ---- stage threads ---- */

/* A stage with next to nothing to do runs on the thread that finished the
 * stage before it, right after it: a hand-over between threads costs more
 * than such a stage does. Upload is empty on the CPU backend; batch only
 * counts the outputs. In whole-batch mode every stage after plan does. */
static int inline_stage(const bfdi_pipe *p, int k) {
  if (p->whole) return k > S_PLAN;
  return k == S_BATCH || (k == S_UPLOAD && !p->cuda && !(p->dist && p->dist->mode == BFDI_DIST_EXCHANGE));
}

static int stage_threads(const bfdi_pipe *p, int k) {
  if (inline_stage(p, k)) return 0;
  if (p->whole) return (int)p->job.workers + 1;
  return k == S_READ ? (int)p->job.readers : 1;
}

/* The stage that takes slots over from stage k (S_READY: the consumer). */
static int next_threaded(const bfdi_pipe *p, int k) {
  do k++;
  while (k < S_READY && inline_stage(p, k));
  return k;
}

/* The stage that hands slots to stage k. */
static int prev_threaded(const bfdi_pipe *p, int k) {
  do k--;
  while (k > S_PLAN && inline_stage(p, k));
  return k;
}

/* Slots done with stage k - 1 that stage k has not taken yet. */
static int queued(const bfdi_pipe *p, int k) {
  int q = 0;
  for (int i = 0; i < p->R; i++) q += p->slots[i].in_flight && p->slots[i].stage == k && !p->slots[i].busy;
  return q;
}

static int room(const bfdi_pipe *p, int k) {
  int j = next_threaded(p, k);
  if (j >= N_STAGES) return 1;
  int cap = stage_threads(p, j) > 2 ? stage_threads(p, j) : 2;
  return queued(p, j) < cap;
}

static bfdi_slot *find_seq(const bfdi_pipe *p, uint64_t seq) {
  for (int i = 0; i < p->R; i++)
    if (p->slots[i].in_flight && p->slots[i].seq == seq) return &p->slots[i];
  return NULL;
}

/* A free slot for worker w's plan: one it planned last if any, so that
 * its buffers are still in w's core's cache rather than another's. */
static bfdi_slot *free_slot(bfdi_pipe *p, const bfdi_worker *w) {
  bfdi_slot *any = NULL;
  for (int i = 0; i < p->R; i++) {
    bfdi_slot *s = &p->slots[i];
    if (s->in_flight) continue;
    if (s->owner == w) return s;
    if (!any) any = s;
  }
  return any;
}

/* The slot stage k works on next, or NULL with *why saying what it waits for. */
static bfdi_slot *claim(bfdi_pipe *p, const bfdi_worker *w, int k, int *why) {
  uint64_t seq = p->next[k];
  *why = WAIT_IN;
  if (p->err && seq >= p->err_seq) return NULL;
  bfdi_slot *s = NULL;
  if (k == S_PLAN) {
    *why = WAIT_OUT;
    if (!room(p, k)) return NULL;
    if (!(s = free_slot(p, w))) return NULL;
    s->owner = w;
    s->in_flight = 1;
    s->seq = seq;
    s->stage = S_PLAN;
  } else {
    s = find_seq(p, seq);
    if (!s || s->stage != k || s->busy) return NULL;
    *why = WAIT_OUT;
    if (!room(p, k)) return NULL;
  }
  s->busy = 1;
  p->next[k]++;
  return s;
}

/* Each wait has its own condition variable so that a hand-over wakes only
 * the threads it may unblock (on few cores, waking every stage each time
 * costs more than small batches do). */
static void wake(bfdi_pipe *p, int k) { pthread_cond_broadcast(&p->cv[k]); }

static void wake_all(bfdi_pipe *p) {
  for (int k = 0; k <= N_STAGES; k++) wake(p, k);
}

static void record_error(bfdi_pipe *p, uint64_t seq, bfd_status st, const char *msg) {
  wake_all(p);
  if (p->err && seq >= p->err_seq) return;
  p->err = st;
  p->err_seq = seq;
  snprintf(p->err_msg, sizeof p->err_msg, "%s", msg);
}

/* Ready batches in sequence order from the consumer's next one. */
static int ready_run(const bfdi_pipe *p) {
  int n = 0;
  for (const bfdi_slot *s; (s = find_seq(p, p->cons_seq + (uint64_t)n)) && s->stage == S_READY && !s->busy;) n++;
  return n;
}

/* Whole batches: while its thread runs the other stages of a batch, a stage
 * waits, for input on the stages before it and for room on those after, as
 * it would on threads of its own; so the stats still name the stage that
 * costs the most. Under p->mu. */
static void whole_waits(bfdi_pipe *p, const double spent[N_STAGES]) {
  double before = 0.0, total = 0.0;
  for (int j = 0; j < N_STAGES; j++) total += spent[j];
  for (int j = 0; j < N_STAGES; j++) {
    p->acc[j].wait_in += before;
    p->acc[j].wait_out += total - before - spent[j];
    before += spent[j];
  }
}

/* Stage j of slot s ran for dt seconds and returned st. Under p->mu. */
static void stage_done(bfdi_pipe *p, bfdi_slot *s, int j, double dt, bfd_status st) {
  p->acc[j].busy += dt;
  if (st == BFD_OK) {
    s->stage = j + 1;
    p->acc[j].records += s->n;
    p->acc[j].bytes += s->bytes[j];
  } else {
    record_error(p, s->seq, st, bfd_last_error());
  }
}

/* Stage j of slot s, p->mu released. Whole batches: the thread holds
 * p->plan_mu on entry to the plan stage, so that plans follow the sampler
 * one after another in sequence order; it lets go as soon as the sampler
 * has handed out the batch, and plans the rows' reads in parallel with the
 * other threads. */
static bfd_status run_stage(bfdi_pipe *p, bfdi_worker *w, bfdi_slot *s, int j) {
  if (!(w->whole && j == S_PLAN)) return STAGE_FNS[j](p, w, s);
  bfd_status st = bfdi_plan_take(p, s);
  pthread_mutex_unlock(&p->plan_mu);
  return st == BFD_OK ? bfdi_plan_rows(p, s) : st;
}

/* run_stage, timed: its seconds, *st its status. */
static double timed_stage(bfdi_pipe *p, bfdi_worker *w, bfdi_slot *s, int j, bfd_status *st) {
  double t0 = now();
  s->bytes[j] = 0;
  *st = run_stage(p, w, s, j);
  return now() - t0;
}

static void *stage_main(void *arg) {
  bfdi_worker *w = arg;
  bfdi_pipe *p = w->p;
  const int k = w->stage;
  bfd_status ist = bfdi_worker_init(p, w);
  pthread_mutex_lock(&p->mu);
  if (ist != BFD_OK) record_error(p, p->next[k], ist, bfd_last_error());
  int done = -1; /* whole batches: the stage to wake for the last batch, once p->mu is let go */
  int held = 0;  /* whole batches: the last batch is ready, its wake-up held back for a group */
  while (ist == BFD_OK) {
    if (w->whole) { /* plan_mu before mu */
      pthread_mutex_unlock(&p->mu);
      /* a waiter woken under the lock would only block on it again */
      if (done >= 0) wake(p, done);
      if (pthread_mutex_trylock(&p->plan_mu) != 0) {
        /* its holder may sleep until the consumer frees a slot: never block on a group held back */
        if (held) wake(p, S_READY);
        pthread_mutex_lock(&p->plan_mu);
      }
      pthread_mutex_lock(&p->mu);
    }
    int why = 0;
    bfdi_slot *s = NULL;
    while (!p->stop && !(s = claim(p, w, k, &why))) {
      if (w->whole && ready_run(p) > 0) wake(p, S_READY); /* a group held back: hand it over before sleeping */
      double t0 = now();
      pthread_cond_wait(&p->cv[k], &p->mu);
      double dt = now() - t0;
      for (int j = w->whole ? 0 : k; j < (w->whole ? N_STAGES : k + 1); j++) /* whole: every stage waits */
        if (why == WAIT_IN)
          p->acc[j].wait_in += dt;
        else
          p->acc[j].wait_out += dt;
    }
    if (p->stop) {
      if (w->whole) pthread_mutex_unlock(&p->plan_mu);
      break;
    }
    if (k > S_PLAN) wake(p, prev_threaded(p, k)); /* its queue has room again */
    bfd_status st = BFD_OK;
    double spent[N_STAGES] = {0};
    if (w->whole) {
      /* the batch from plan to ready, p->mu taken once after it */
      pthread_mutex_unlock(&p->mu);
      int j = k;
      for (; st == BFD_OK && j < S_READY; j++) spent[j] = timed_stage(p, w, s, j, &st);
      pthread_mutex_lock(&p->mu);
      for (int i = k; i < j; i++) {
        if (i != k) p->next[i]++;
        stage_done(p, s, i, spent[i], i + 1 < j ? BFD_OK : st);
      }
      whole_waits(p, spent);
    } else {
      for (int j = k; st == BFD_OK && (j == k || (j < S_READY && inline_stage(p, j))); j++) {
        if (j != k) p->next[j]++;
        pthread_mutex_unlock(&p->mu);
        double dt = timed_stage(p, w, s, j, &st);
        pthread_mutex_lock(&p->mu);
        stage_done(p, s, j, dt, st);
      }
    }
    s->busy = 0;
    if (st == BFD_OK && !w->whole) wake(p, s->stage);
    done = st == BFD_OK && w->whole && ready_run(p) >= p->group ? s->stage : -1;
    held = st == BFD_OK && w->whole && done < 0;
  }
  pthread_mutex_unlock(&p->mu);
  bfdi_worker_fini(w);
  return NULL;
}

int bfdi_team_take(bfdi_pipe *p, int want) {
  if (want <= 1) return 1;
  pthread_mutex_lock(&p->mu);
  int extra = want - 1 < p->team_spare ? want - 1 : p->team_spare;
  p->team_spare -= extra;
  pthread_mutex_unlock(&p->mu);
  return 1 + extra;
}

void bfdi_team_give(bfdi_pipe *p, int team) {
  if (team <= 1) return;
  pthread_mutex_lock(&p->mu);
  p->team_spare += team - 1;
  pthread_mutex_unlock(&p->mu);
}

/* Under p->mu. */
static bfd_status start(bfdi_pipe *p) {
  int n = 0;
  for (int k = 0; k < N_STAGES; k++) n += stage_threads(p, k);
  p->workers = calloc((size_t)n, sizeof *p->workers);
  if (!p->workers) return bfdi_fail(BFD_ERR_NOMEM, "out of memory");
  for (int k = 0; k < N_STAGES; k++) p->next[k] = p->cons_seq;
  for (int i = 0; i < p->R; i++) p->slots[i].owner = NULL; /* the workers are new */
  p->plan_c = p->consumed;
  p->plan_step = p->consumed_step;
  p->stop = 0;
  p->running = 1;
  for (int k = 0; k < N_STAGES; k++)
    for (int t = 0; t < stage_threads(p, k); t++) {
      bfdi_worker *w = &p->workers[p->n_workers];
      w->p = p;
      w->stage = k;
      w->whole = p->whole;
      if (pthread_create(&w->thread, NULL, stage_main, w) != 0) {
        record_error(p, p->cons_seq, BFD_ERR_NOMEM, "cannot start a pipeline thread");
        return BFD_OK;
      }
      p->n_workers++;
    }
  return BFD_OK;
}

/* Stops and joins the threads, then returns every slot the consumer does
 * not hold to the free ring. */
static void stop(bfdi_pipe *p) {
  pthread_mutex_lock(&p->mu);
  if (!p->running) {
    pthread_mutex_unlock(&p->mu);
    return;
  }
  if (p->dist) bfdi_dist_drain(p);
  p->stop = 1;
  wake_all(p);
  pthread_mutex_unlock(&p->mu);
  for (int i = 0; i < p->n_workers; i++) pthread_join(p->workers[i].thread, NULL);
#if BFD_CUDA
  if (p->cuda) {
    bfdk_gpu_stream_sync(p->copy_stream);
    bfdk_gpu_stream_sync(p->compute_stream);
  }
#endif
  pthread_mutex_lock(&p->mu);
  free(p->workers);
  p->workers = NULL;
  p->n_workers = 0;
  p->running = 0;
  p->stop = 0;
  p->err = BFD_OK;
  p->allowed = p->cons_seq; /* discarded slots: their collectives wait for the consumer again */
  for (int i = 0; i < p->R; i++)
    if (!p->slots[i].given) p->slots[i].in_flight = 0;
  pthread_mutex_unlock(&p->mu);
}

/* ---- consumer ---- */

bfd_status bfdi_pipe_next(bfdi_pipe *p, bfd_batch **out) {
  *out = NULL;
  pthread_mutex_lock(&p->mu);
  bfd_status st = p->running ? BFD_OK : start(p);
  bfdi_slot *s = NULL;
  if (p->dist) bfdi_dist_allow(p);
  while (st == BFD_OK) {
    if (p->err && p->cons_seq >= p->err_seq) {
      st = bfdi_dist_fail(p, bfdi_fail(p->err, "%s", p->err_msg));
      break;
    }
    s = find_seq(p, p->cons_seq);
    if (s && s->stage == S_READY && !s->busy) break;
    s = NULL;
    if (p->held == p->R) {
      st = bfdi_fail(BFD_ERR_INVALID_ARG, "the consumer holds all %d batches of the ring (prefetch %u + 1) and asks "
                     "for another: release a batch (and delete its tensors) first, or raise prefetch", p->R,
                     p->job.prefetch);
      break;
    }
    if (p->dist && p->held == p->R - 1) {
      st = bfdi_fail(BFD_ERR_INVALID_ARG, "the consumer holds %d batches and asks for another; in dist.mode %s it "
                     "may hold %d (prefetch), so that the step that runs ahead has a slot on every rank: release a "
                     "batch (and delete its tensors) first, or raise prefetch", p->held,
                     p->job.dist_mode == BFDI_DIST_EXCHANGE ? "exchange" : "broadcast", p->R - 1);
      break;
    }
    pthread_cond_wait(&p->cv[S_READY], &p->mu);
  }
  if (st == BFD_OK) {
    if (s->c.epoch != p->cur_epoch) {
      p->cur_epoch = s->c.epoch;
    } else {
      __atomic_store_n(&s->refs, 1, __ATOMIC_RELAXED);
      __atomic_store_n(&s->handle, 1, __ATOMIC_RELAXED);
      s->given = 1;
      p->held++;
      p->cons_seq++;
      p->consumed = s->next_c;
      p->consumed_step = s->next_step;
      bfdi_skip_take(p, s);
      *out = s;
      if (p->dist) bfdi_dist_allow(p);
    }
  }
  pthread_mutex_unlock(&p->mu);
  return st;
}

/* A tensor or handle only comes from a batch the consumer still holds, so
 * references come and go with atomics alone; the last one takes the lock
 * and hands the slot back. */
void bfdi_pipe_ref(bfd_batch *b) { __atomic_add_fetch(&b->refs, 1, __ATOMIC_RELAXED); }

void bfdi_pipe_unref(bfd_batch *b) {
  if (__atomic_sub_fetch(&b->refs, 1, __ATOMIC_ACQ_REL) != 0) return;
  bfdi_pipe *p = b->p;
  pthread_mutex_lock(&p->mu);
  if (p->secure) bfdi_slot_scrub(p, b);
  b->given = 0;
  b->in_flight = 0;
  p->held--;
  int last = p->closed && p->held == 0;
  wake(p, S_PLAN);
  pthread_mutex_unlock(&p->mu);
  if (last) destroy(p);
}

bfd_status bfdi_pipe_release(bfd_batch *b) {
  if (!__atomic_exchange_n(&b->handle, 0, __ATOMIC_ACQ_REL))
    return bfdi_fail(BFD_ERR_INVALID_ARG, "bfd_batch_release: this batch was already released");
  bfdi_pipe_unref(b);
  return BFD_OK;
}

void bfdi_pipe_close(bfdi_pipe *p) {
  if (!p) return;
  stop(p);
  pthread_mutex_lock(&p->mu);
  p->closed = 1;
  int last = p->held == 0;
  pthread_mutex_unlock(&p->mu);
  if (last) destroy(p);
}

bfd_status bfdi_pipe_steps(bfdi_pipe *p, uint64_t *steps) {
  return bfdi_sampler_steps(p->api_sampler, (bfdi_cursor){p->consumed.epoch, 0}, steps);
}

void bfdi_pipe_position(bfdi_pipe *p, uint32_t *epoch, uint64_t *step) {
  pthread_mutex_lock(&p->mu);
  if (epoch) *epoch = p->consumed.epoch;
  if (step) *step = p->consumed_step;
  pthread_mutex_unlock(&p->mu);
}

bfd_status bfdi_pipe_state_save(bfdi_pipe *p, void *buf, size_t cap, size_t *len) {
  if (len) *len = BFDI_SAMPLER_STATE_BYTES;
  if (!buf || cap < BFDI_SAMPLER_STATE_BYTES)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "the loader state takes %d bytes; the buffer holds %zu",
                     BFDI_SAMPLER_STATE_BYTES, buf ? cap : 0);
  pthread_mutex_lock(&p->mu);
  bfdi_cursor c = p->consumed;
  pthread_mutex_unlock(&p->mu);
  return bfdi_sampler_save(p->api_sampler, c, buf);
}

bfd_status bfdi_pipe_state_load(bfdi_pipe *p, const void *buf, size_t len) {
  if (!buf) return bfdi_fail(BFD_ERR_INVALID_ARG, "bfd_loader_state_load: the state is NULL");
  bfdi_cursor c;
  BFD_TRY(bfdi_sampler_load(p->api_sampler, buf, len, &c));
  uint64_t step;
  BFD_TRY(step_of(p->api_sampler, c, &step));
  stop(p);
  pthread_mutex_lock(&p->mu);
  p->consumed = c;
  p->consumed_step = step;
  p->cur_epoch = c.epoch;
  pthread_mutex_unlock(&p->mu);
  return BFD_OK;
}

size_t bfdi_pipe_stats(bfdi_pipe *p, bfd_stage_stats *st, size_t cap) {
  pthread_mutex_lock(&p->mu);
  for (size_t k = 0; k < N_STAGES && k < cap; k++)
    st[k] = (bfd_stage_stats){STAGE_NAMES[k], p->acc[k].busy, p->acc[k].wait_in, p->acc[k].wait_out,
                              p->acc[k].bytes, p->acc[k].records};
  pthread_mutex_unlock(&p->mu);
  return N_STAGES;
}

bfd_status bfdi_pipe_run_serial(bfdi_pipe *p, uint64_t n, double stage_s[6]) {
  stop(p);
  pthread_mutex_lock(&p->mu);
  bfdi_slot *s = NULL;
  for (int i = 0; i < p->R && !s; i++)
    if (!p->slots[i].in_flight) s = &p->slots[i];
  if (s) s->in_flight = 1;
  pthread_mutex_unlock(&p->mu);
  if (!s) return bfdi_fail(BFD_ERR_INVALID_ARG, "every batch slot is held by the consumer; release one first");
  bfdi_worker w[N_STAGES];
  memset(w, 0, sizeof w);
  bfd_status st = BFD_OK;
  for (int k = 0; k < N_STAGES && st == BFD_OK; k++) {
    w[k].p = p;
    w[k].stage = k;
    st = bfdi_worker_init(p, &w[k]);
  }
  omp_set_num_threads((int)p->job.workers);
  p->plan_c = p->consumed;
  p->plan_step = p->consumed_step;
  for (uint64_t i = 0; i < n && st == BFD_OK; i++)
    for (int k = 0; k < N_STAGES && st == BFD_OK; k++) {
      double t0 = now();
      st = STAGE_FNS[k](p, &w[k], s);
#if BFD_CUDA
      if (st == BFD_OK && p->cuda && k == S_UPLOAD) st = bfdk_gpu_event_sync(s->ev_up);
      if (st == BFD_OK && p->cuda && k == S_OPS) st = bfdk_gpu_event_sync(s->ev_done);
#endif
      stage_s[k] += now() - t0;
    }
  for (int k = 0; k < N_STAGES; k++) bfdi_worker_fini(&w[k]);
  pthread_mutex_lock(&p->mu);
  s->in_flight = 0;
  pthread_mutex_unlock(&p->mu);
  return st;
}

/* ---- batches ---- */

const bfdi_out_desc *bfdi_out_find(const bfdi_pipe *p, const char *name) {
  for (size_t i = 0; i < p->n_outs; i++)
    if (!strcmp(p->outs[i].name, name)) return &p->outs[i];
  return NULL;
}

void bfdi_batch_meta_get(const bfd_batch *b, bfdi_batch_meta *m) {
  const bfdi_pipe *p = b->p;
  m->epoch = b->c.epoch;
  m->step = b->step;
  m->rows = b->n;
  m->n_outputs = p->n_outs;
  m->device = p->cuda ? kDLCUDA : kDLCPU;
  m->device_id = p->cuda ? p->device_id : 0;
}

void bfdi_batch_view_get(const bfd_batch *b, size_t i, bfdi_view *v) {
  const bfdi_out_desc *d = &b->p->outs[i];
  v->name = d->name;
  v->data = b->out + d->off;
  v->dtype = d->dtype;
  v->ndim = d->ndim;
  for (int k = 0; k < d->ndim; k++)
    v->shape[k] = d->dims[k] == DIM_B ? (int64_t)b->n : (d->dims[k] == DIM_W ? b->width : d->dims[k]);
}

bfd_status bfdi_batch_wait(bfd_batch *b, void *cuda_stream) {
#if BFD_CUDA
  if (b->p->cuda) return bfdk_gpu_stream_wait(cuda_stream, b->ev_done);
#endif
  (void)cuda_stream;
  return BFD_OK;
}
