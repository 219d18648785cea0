package cloudtest

import (
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
)

// EC2 speaks the EC2 query API (form-encoded Action=..., XML answers) for
// the calls keel run aws makes: DescribeImages (the AMI named sys, or AMI),
// RunInstances, DescribeInstances, GetConsoleOutput, TerminateInstances. The instance is pending at the first
// look and running after; each console read reveals chunk more bytes of
// text and answers the newest window of them; once all is revealed the
// instance is stopped. fail queues error answers by action.
type EC2 struct {
	mu sync.Mutex
	// Calls are the actions, in order; Run the last RunInstances form.
	Calls []string
	Run   url.Values
	// State is each instance's state by ID.
	State map[string]string
	// Text is the console; each read reveals Chunk more bytes and answers
	// the newest Window of them.
	Text          string
	Chunk, Window int
	// NoLatest answers UnsupportedOperation to Latest=true, as a Xen
	// instance does.
	NoLatest bool
	// Fail queues error bodies (answered 400) by action.
	Fail map[string][]string
	// OnConsole runs after each console read.
	OnConsole func()

	looks, shown int
}

// NewEC2 is an EC2 whose console is text, revealed chunk bytes a read
// in windows of window bytes.
func NewEC2(text string, chunk, window int) *EC2 {
	return &EC2{State: map[string]string{}, Fail: map[string][]string{}, Text: text, Chunk: chunk, Window: window}
}

// Instance is the ID of the instance RunInstances makes; AMI the ID of
// the AMI named sys.
const (
	Instance = "i-0123456789abcdef0"
	AMI      = "ami-0123456789abcdef0"
)

func (f *EC2) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	hook := f.OnConsole
	console := false
	defer func() {
		f.mu.Unlock()
		if console && hook != nil {
			hook()
		}
	}()
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	action := r.PostForm.Get("Action")
	f.Calls = append(f.Calls, action)
	w.Header().Set("Content-Type", "text/xml")
	if q := f.Fail[action]; len(q) > 0 {
		f.Fail[action] = q[1:]
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, q[0])
		return
	}
	reply := func(body string) {
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><%sResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>req-1</requestId>%s</%sResponse>`, action, body, action)
	}
	id := r.PostForm.Get("InstanceId.1")
	if id == "" {
		id = r.PostForm.Get("InstanceId")
	}
	switch action {
	case "DescribeImages":
		if r.PostForm.Get("Owner.1") == "self" && r.PostForm.Get("Filter.1.Name") == "name" && r.PostForm.Get("Filter.1.Value.1") == "sys" ||
			r.PostForm.Get("ImageId.1") == AMI {
			reply("<imagesSet><item><imageId>" + AMI + "</imageId><name>sys</name><rootDeviceName>/dev/xvda</rootDeviceName></item></imagesSet>")
			return
		}
		reply("<imagesSet/>")
	case "RunInstances":
		f.Run = r.PostForm
		f.State[Instance] = "pending"
		reply("<reservationId>r-1</reservationId><ownerId>1</ownerId><instancesSet><item><instanceId>" + Instance + "</instanceId><instanceState><code>0</code><name>pending</name></instanceState></item></instancesSet>")
	case "DescribeInstances":
		st, ok := f.State[id]
		if !ok {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, EC2Error("InvalidInstanceID.NotFound", "The instance ID '"+id+"' does not exist"))
			return
		}
		f.looks++
		if st == "pending" && f.looks > 1 {
			st = "running"
			f.State[id] = st
		}
		reply("<reservationSet><item><reservationId>r-1</reservationId><instancesSet><item><instanceId>" + id + "</instanceId><instanceState><code>16</code><name>" + st + "</name></instanceState></item></instancesSet></item></reservationSet>")
	case "GetConsoleOutput":
		if f.NoLatest && r.PostForm.Get("Latest") == "true" {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, EC2Error("UnsupportedOperation", "latest is only for Nitro"))
			return
		}
		console = true
		f.shown = min(f.shown+f.Chunk, len(f.Text))
		if f.shown == len(f.Text) {
			f.State[id] = "stopped"
		}
		out := f.Text[max(0, f.shown-f.Window):f.shown]
		reply("<instanceId>" + id + "</instanceId><timestamp>2026-01-01T00:00:00.000Z</timestamp><output>" + base64.StdEncoding.EncodeToString([]byte(out)) + "</output>")
	case "TerminateInstances":
		if _, ok := f.State[id]; !ok {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, EC2Error("InvalidInstanceID.NotFound", "The instance ID '"+id+"' does not exist"))
			return
		}
		delete(f.State, id)
		reply("<instancesSet><item><instanceId>" + id + "</instanceId><currentState><code>32</code><name>shutting-down</name></currentState><previousState><code>16</code><name>running</name></previousState></item></instancesSet>")
	default:
		http.Error(w, "unexpected action "+action, http.StatusBadRequest)
	}
}
