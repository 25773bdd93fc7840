package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"gorm.io/gorm"

	"github.com/matroska-go/matroska"
	matroskagorm "github.com/matroska-go/matroska/contrib/gorm"
	"github.com/matroska-go/matroska/contrib/pgcdc"
	"github.com/matroska-go/matroska/scopes"
	"github.com/matroska-go/matroska/tiered"
)

// Article is the one model of the blog.
type Article struct {
	ID        uint      `json:"id"`
	Title     string    `json:"title"`
	Category  string    `json:"category" gorm:"index"`
	CreatedAt time.Time `json:"created_at"`
}

// articleScopes describes the lists of articles: all of them, or those of
// one category.
func articleScopes() (*scopes.Scopes[Article], error) {
	s := scopes.New[Article]("article", scopes.Options{Lenient: true})
	err := s.Describe(scopes.Signature[Article]{
		Params: []string{"category"},
		Extract: func(a Article) (scopes.P, error) {
			return scopes.P{"category": a.Category}, nil
		},
	})
	return s, err
}

// server is the blog's HTTP JSON API over a database and a cache.
type server struct {
	db       *gorm.DB
	cache    *tiered.Cache
	plugin   *matroskagorm.Plugin // nil in log mode
	consumer *pgcdc.Consumer      // set by run in log mode, for /stats
	articles *scopes.Scopes[Article]
	log      *slog.Logger
	loads    atomic.Int64 // loader calls, for the logs and the tests
}

// newServer connects the cache to the database. By handlers, the plugin
// invalidates what every committed write of the API changes; by the log,
// the handlers invalidate nothing, and the tables get ready for the
// consumer that run starts (consumerConfig).
func newServer(db *gorm.DB, cache *tiered.Cache, log *slog.Logger, by mode) (*server, error) {
	s := &server{db: db, cache: cache, log: log}
	var err error
	if s.articles, err = articleScopes(); err != nil {
		return nil, err
	}
	if err := db.AutoMigrate(&Article{}); err != nil {
		return nil, err
	}
	if by == byLog {
		return s, prepareLog(db)
	}
	s.plugin = matroskagorm.New(cache, matroskagorm.Options{Logger: log})
	if err := db.Use(s.plugin); err != nil {
		return nil, err
	}
	if err := matroskagorm.Register(s.plugin, s.articles); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /articles", s.list)
	mux.HandleFunc("GET /articles/{id}", s.get)
	mux.HandleFunc("POST /articles", s.create)
	mux.HandleFunc("PUT /articles/{id}", s.update)
	mux.HandleFunc("DELETE /articles/{id}", s.delete)
	mux.HandleFunc("GET /stats", s.stats)
	return mux
}

// list serves GET /articles?category=x from the cache. The cached list
// depends on the ids of its articles and on the condition of its filter, so
// editing one of them, or creating, moving or deleting an article of the
// category, drops it.
func (s *server) list(w http.ResponseWriter, r *http.Request) {
	category := r.URL.Query().Get("category")
	params := scopes.P{} // every article
	key := "articles"
	if r.URL.Query().Has("category") {
		params = scopes.P{"category": category}
		key = "articles?category=" + category
	}
	var loaded atomic.Bool // set when this request's loader runs
	arts, err := matroska.GetOrLoad(r.Context(), s.cache, key,
		func(ctx context.Context, rec *matroska.Recorder) ([]Article, error) {
			loaded.Store(true)
			s.loads.Add(1)
			arts := []Article{}
			q := s.db.WithContext(ctx).Order("id")
			if len(params) > 0 {
				q = q.Where("category = ?", category)
			}
			if err := q.Find(&arts).Error; err != nil {
				return nil, err
			}
			ds, err := matroskagorm.Dependencies(s.db, arts)
			if err != nil {
				return nil, err
			}
			cs, err := s.articles.Condition(params)
			if err != nil {
				return nil, err
			}
			rec.Depend(ds...)
			rec.Depend(cs...)
			return arts, nil
		}, matroska.TTL(10*time.Minute))
	cache := s.logRead(key, loaded.Load(), err)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	reply(w, http.StatusOK, cache, arts)
}

// get serves GET /articles/{id}; a missing article is cached as not found
// until it is created.
func (s *server) get(w http.ResponseWriter, r *http.Request) {
	id, ok := s.pathID(w, r)
	if !ok {
		return
	}
	key := fmt.Sprintf("article:%d", id)
	var loaded atomic.Bool
	a, err := matroska.GetOrLoad(r.Context(), s.cache, key,
		func(ctx context.Context, rec *matroska.Recorder) (Article, error) {
			loaded.Store(true)
			s.loads.Add(1)
			var a Article
			// Depend on the id first, so that its creation drops a
			// not-found entry.
			ds, err := matroskagorm.Dependencies(s.db, Article{ID: id})
			if err != nil {
				return a, err
			}
			rec.Depend(ds...)
			err = s.db.WithContext(ctx).First(&a, id).Error
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return a, matroska.ErrNotFound
			}
			return a, err
		}, matroska.TTL(10*time.Minute))
	cache := s.logRead(key, loaded.Load(), err)
	w.Header().Set("X-Cache", cache)
	if err != nil { // matroska.ErrNotFound is a 404
		s.fail(w, r, err)
		return
	}
	reply(w, http.StatusOK, cache, a)
}

// input is the body of POST and PUT: the fields to set.
type input struct {
	Title    *string `json:"title"`
	Category *string `json:"category"`
}

func (in input) fields() map[string]any {
	m := map[string]any{}
	if in.Title != nil {
		m["title"] = *in.Title
	}
	if in.Category != nil {
		m["category"] = *in.Category
	}
	return m
}

// create serves POST /articles. The plugin (or the log's consumer)
// invalidates, after the commit, the new article's id and the lists of its
// category.
func (s *server) create(w http.ResponseWriter, r *http.Request) {
	var in input
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Title == nil || in.Category == nil {
		s.fail(w, r, badRequest(`want {"title": "...", "category": "..."}`))
		return
	}
	a := Article{Title: *in.Title, Category: *in.Category}
	if err := s.db.WithContext(r.Context()).Create(&a).Error; err != nil {
		s.fail(w, r, err)
		return
	}
	s.log.Info("created", "id", a.ID, "category", a.Category)
	reply(w, http.StatusCreated, "", a)
}

// update serves PUT /articles/{id}. Moving an article to another category
// drops the lists of both categories; a new title drops only the entries
// that hold the article.
func (s *server) update(w http.ResponseWriter, r *http.Request) {
	id, ok := s.pathID(w, r)
	if !ok {
		return
	}
	var in input
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || len(in.fields()) == 0 {
		s.fail(w, r, badRequest(`want {"title": "..."} and/or {"category": "..."}`))
		return
	}
	var a Article
	err := s.db.WithContext(r.Context()).Transaction(func(tx *gorm.DB) error {
		res := tx.Model(&Article{ID: id}).Updates(in.fields())
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return gorm.ErrRecordNotFound
		}
		return tx.First(&a, id).Error
	})
	if err != nil { // gorm.ErrRecordNotFound is a 404
		s.fail(w, r, err)
		return
	}
	s.log.Info("updated", "id", id, "fields", in.fields())
	reply(w, http.StatusOK, "", a)
}

// delete serves DELETE /articles/{id}.
func (s *server) delete(w http.ResponseWriter, r *http.Request) {
	id, ok := s.pathID(w, r)
	if !ok {
		return
	}
	res := s.db.WithContext(r.Context()).Delete(&Article{ID: id})
	if res.Error != nil {
		s.fail(w, r, res.Error)
		return
	}
	if res.RowsAffected == 0 {
		s.fail(w, r, gorm.ErrRecordNotFound)
		return
	}
	s.log.Info("deleted", "id", id)
	w.WriteHeader(http.StatusNoContent)
}

// stats serves GET /stats: the cache's counters, and the plugin's or the
// log consumer's.
func (s *server) stats(w http.ResponseWriter, r *http.Request) {
	st := s.cache.Stats()
	m := map[string]any{
		"l1_hits": st.L1Hits, "l2_hits": st.L2Hits, "loads": st.Loads,
		"invalidations_sent": st.InvalidationsSent,
	}
	if s.plugin != nil {
		m["plugin"] = s.plugin.Stats()
	}
	if s.consumer != nil {
		// The consumer's errors (LastError) go to the log, not to clients.
		cs := s.consumer.Stats()
		m["log"] = map[string]any{
			"active": cs.Active, "standby": cs.Standby,
			"transactions": cs.Transactions, "rows": cs.Rows, "invalidations": cs.Invalidations,
			"confirmed_lsn": cs.ConfirmedLSN.String(), "lag_bytes": cs.LagBytes, "lag_time": cs.LagTime.String(),
		}
	}
	// false while the node serves nothing cached: Redis unreachable, or,
	// in log mode, the consumer's feed behind.
	m["ready"] = s.cache.Ready(r.Context()) == nil
	reply(w, http.StatusOK, "", m)
}

// logRead logs a read and returns the X-Cache header of its reply.
func (s *server) logRead(key string, loaded bool, err error) string {
	attrs := []any{"key", key}
	if err != nil {
		attrs = append(attrs, "err", err)
	}
	if loaded {
		s.log.Info("cache miss: loaded from the database", attrs...)
		return "miss"
	}
	s.log.Info("cache hit", attrs...)
	return "hit"
}

func (s *server) pathID(w http.ResponseWriter, r *http.Request) (uint, bool) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 32)
	if err != nil || id == 0 {
		s.fail(w, r, badRequest("the id must be a positive integer"))
		return 0, false
	}
	return uint(id), true
}

// reply writes v as JSON; cache, when set, is the X-Cache header.
func reply(w http.ResponseWriter, code int, cache string, v any) {
	w.Header().Set("Content-Type", "application/json")
	if cache != "" {
		w.Header().Set("X-Cache", cache)
	}
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// badRequest is an error in what the client sent; its text is written for
// the client and is the one error text a reply carries.
type badRequest string

func (e badRequest) Error() string { return string(e) }

// statusOf maps an error to the HTTP status and the message a client gets.
// The message is generic: the error's own text (the library's, the
// database's) names internals and stays in the server's log.
func statusOf(err error) (int, string) {
	var bad badRequest
	switch {
	case errors.As(err, &bad):
		return http.StatusBadRequest, string(bad)
	case errors.Is(err, matroska.ErrNotFound), errors.Is(err, gorm.ErrRecordNotFound):
		return http.StatusNotFound, "not found"
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout, "timed out"
	case errors.Is(err, matroska.ErrUnavailable), errors.Is(err, matroska.ErrClosed):
		return http.StatusServiceUnavailable, "temporarily unavailable, try again"
	}
	return http.StatusInternalServerError, "internal error"
}

// fail answers a request that failed with err: the status and generic
// message of statusOf, while the log gets the error itself.
func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		s.log.Info("request canceled by the client", "method", r.Method, "path", r.URL.Path)
		return // nobody reads the reply
	}
	code, msg := statusOf(err)
	attrs := []any{"method", r.Method, "path", r.URL.Path, "status", code, "err", err}
	if code >= 500 {
		s.log.Error("request failed", attrs...)
	} else {
		s.log.Info("request refused", attrs...)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
