package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/sluice-go/sluice/ctxutil"
)

// problem is an RFC 9457 problem detail, the body of every error response.
type problem struct {
	Type      string `json:"type,omitempty"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail,omitempty"`
	RequestID string `json:"request_id,omitempty"`
}

// writeProblem answers with status and a problem body. detail is shown to the client, so it must never carry an
// internal error message.
func writeProblem(w http.ResponseWriter, r *http.Request, status int, detail string) {
	p := problem{Title: http.StatusText(status), Status: status, Detail: detail, RequestID: ctxutil.RequestID(r.Context())}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(p)
}

// maxBodyBytes bounds every request body the service reads.
const maxBodyBytes = 64 << 10

// decodeJSON reads exactly one JSON object into v, rejecting unknown fields, trailing data and bodies over
// maxBodyBytes. Its errors are safe to show to the client.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return fmt.Errorf("Content-Type must be application/json, got %q", ct)
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooLarge *http.MaxBytesError
		var syntax *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &tooLarge):
			return fmt.Errorf("body larger than %d bytes", maxBodyBytes)
		case errors.As(err, &syntax):
			return fmt.Errorf("malformed JSON at byte %d", syntax.Offset)
		case errors.As(err, &typ):
			return fmt.Errorf("field %q must be a %s", typ.Field, typ.Type)
		case errors.Is(err, io.EOF):
			return errors.New("empty body")
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return fmt.Errorf("unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
		default:
			return errors.New("malformed JSON")
		}
	}
	if dec.More() {
		return errors.New("trailing data after the JSON object")
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
