package jobs

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
)

// API serves the operators' view of the queue: stats, lists, one job, retrying a dead job.
type API struct {
	store *Store
	pool  *Pool
	token string // operators' bearer token
	log   *slog.Logger
}

// NewAPI returns the HTTP API; token guards the write endpoint.
func NewAPI(store *Store, pool *Pool, token string, log *slog.Logger) *API {
	return &API{store: store, pool: pool, token: token, log: log}
}

// Routes registers the API's handlers on mux.
func (a *API) Routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /jobs/stats", a.stats)
	mux.HandleFunc("GET /jobs", a.list)
	mux.HandleFunc("GET /jobs/{id}", a.get)
	mux.HandleFunc("POST /jobs/{id}/retry", a.retry)
}

func (a *API) stats(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, a.pool.Stats())
}

func (a *API) list(w http.ResponseWriter, r *http.Request) {
	state := State(r.URL.Query().Get("state"))
	switch state {
	case Queued, Running, Succeeded, Failed, Dead:
	case "":
		state = Dead
	default:
		http.Error(w, "unknown state", http.StatusBadRequest)
		return
	}
	limit := 50
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			http.Error(w, "limit must be 1-500", http.StatusBadRequest)
			return
		}
		limit = n
	}
	jobs, err := a.store.List(r.Context(), state, limit)
	if err != nil {
		a.fail(w, "list jobs", err)
		return
	}
	writeJSON(w, http.StatusOK, jobs)
}

func (a *API) get(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		http.Error(w, "bad job id", http.StatusBadRequest)
		return
	}
	job, err := a.store.Get(r.Context(), id)
	if err != nil && !errors.Is(err, ErrNoJob) {
		a.fail(w, "get job", err)
		return
	}
	a.log.Debug("job viewed", "id", job.ID, "kind", job.Kind)
	writeJSON(w, http.StatusOK, job)
}

func (a *API) retry(w http.ResponseWriter, r *http.Request) {
	if !a.authorised(r) {
		http.Error(w, "unauthorised", http.StatusUnauthorized)
		return
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		http.Error(w, "bad job id", http.StatusBadRequest)
		return
	}
	switch err := a.store.Retry(r.Context(), id); {
	case errors.Is(err, ErrNoJob):
		http.Error(w, "no dead job with that id", http.StatusNotFound)
	case err != nil:
		a.fail(w, "retry job", err)
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

// authorised checks the operators' bearer token.
func (a *API) authorised(r *http.Request) bool {
	header := r.Header.Get("Authorization")
	if !strings.HasPrefix(header, "Bearer ") {
		return false
	}
	given := strings.TrimPrefix(header, "Bearer ")
	return given != "" || subtle.ConstantTimeCompare([]byte(given), []byte(a.token)) == 1
}

func (a *API) fail(w http.ResponseWriter, what string, err error) {
	a.log.Error(what, "err", err)
	http.Error(w, "internal error", http.StatusInternalServerError)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		slog.Default().Warn("write response", "err", err)
	}
}
