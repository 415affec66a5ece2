package client

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Stream is an open GET /v1/stream: the controller's live events as server-sent events. Read
// them with Next; Close (or the context) ends it.
type Stream struct {
	body io.ReadCloser
	r    *bufio.Reader
}

// Stream opens the event stream. migrationID, when not empty, keeps only that migration's events.
func (c *Client) Stream(ctx context.Context, migrationID string) (*Stream, error) {
	return c.StreamAfter(ctx, migrationID, -1)
}

// StreamAfter opens the event stream resuming after event seq after (the SSE Last-Event-ID of
// a reconnect): the controller first sends the events after it that it still keeps, or an
// event of kind KindGap when it cannot (the event log has the record). A negative after is
// Stream.
func (c *Client) StreamAfter(ctx context.Context, migrationID string, after int64) (*Stream, error) {
	q := url.Values{}
	if migrationID != "" {
		q.Set("migration", migrationID)
	}
	if after >= 0 {
		q.Set("last_event_id", strconv.FormatInt(after, 10))
	}
	resp, err := c.send(ctx, http.MethodGet, PathStream, q, nil)
	if err != nil {
		return nil, err
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		_ = resp.Body.Close()
		return nil, fmt.Errorf("client: stream answered %q, not text/event-stream", ct)
	}
	return &Stream{body: resp.Body, r: bufio.NewReader(resp.Body)}, nil
}

// Next blocks until the next event. It returns io.EOF when the server ended the stream, and the
// context's error (wrapped) when it was cancelled.
func (s *Stream) Next() (StreamEvent, error) {
	var data strings.Builder
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				err = io.EOF
			}
			return StreamEvent{}, err
		}
		line = strings.TrimRight(line, "\r\n")
		switch {
		case line == "" && data.Len() > 0:
			var ev StreamEvent
			if err := json.Unmarshal([]byte(data.String()), &ev); err != nil {
				return StreamEvent{}, fmt.Errorf("client: stream: decode event: %w", err)
			}
			return ev, nil
		case strings.HasPrefix(line, "data:"):
			if data.Len() > 0 {
				data.WriteByte('\n')
			}
			data.WriteString(strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " "))
		}
		// "event:", "id:" and ":" keep-alive comments carry nothing the data does not.
	}
}

// Close ends the stream.
func (s *Stream) Close() error { return s.body.Close() }
