package metadata

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode"
)

// ReadyReporter is a Provider whose cloud waits for the instance to say it
// booted. Run calls ReportReady once /run/config is written.
type ReadyReporter interface {
	ReportReady(ctx context.Context) error
}

// DefaultWireServer is Azure's fabric endpoint, the same address in every
// region.
const DefaultWireServer = "http://168.63.129.16"

// wireServerVersion is the protocol version the goal state and health
// report calls are made with; the fabric answers every version it ever
// supported, and this one carries everything the report needs.
const wireServerVersion = "2012-11-30"

// azureGoalState is the part of the fabric's goal state a health report
// names.
type azureGoalState struct {
	Incarnation string `xml:"Incarnation"`
	Container   struct {
		ContainerID string `xml:"ContainerId"`
		Instances   []struct {
			InstanceID string `xml:"InstanceId"`
		} `xml:"RoleInstanceList>RoleInstance"`
	} `xml:"Container"`
}

// azureHealth is the health report: the same ids back, with the state.
type azureHealth struct {
	XMLName     xml.Name `xml:"Health"`
	Incarnation string   `xml:"GoalStateIncarnation"`
	ContainerID string   `xml:"Container>ContainerId"`
	InstanceID  string   `xml:"Container>RoleInstanceList>Role>InstanceId"`
	State       string   `xml:"Container>RoleInstanceList>Role>Health>State"`
}

// ReportReady tells Azure's fabric that the instance is up. Azure keeps a
// VM created from a generalized image (what `keel push azure` makes) in
// "provisioning" until its guest does this, and fails the deployment with
// OSProvisioningTimedOut after about 20 minutes; the Linux agent
// (waagent) or cloud-init usually report it, and a Keel system has
// neither.
func (p *Azure) ReportReady(ctx context.Context) error {
	base := p.WireServer
	if base == "" {
		base = DefaultWireServer
	}
	header := map[string]string{"x-ms-version": wireServerVersion, "x-ms-agent-name": "keel-metadata"}
	b, err := p.F.Get(ctx, base+"/machine/?comp=goalstate", header)
	if err != nil {
		return fmt.Errorf("azure: reading the goal state: %w", err)
	}
	var gs azureGoalState
	if err := xml.Unmarshal(b, &gs); err != nil {
		return badAnswer("azure: the goal state is not the expected XML: %v", err)
	}
	if len(gs.Container.Instances) == 0 {
		return badAnswer("azure: the goal state names no role instance")
	}
	report := azureHealth{
		Incarnation: gs.Incarnation,
		ContainerID: gs.Container.ContainerID,
		InstanceID:  gs.Container.Instances[0].InstanceID,
		State:       "Ready",
	}
	for name, v := range map[string]string{"Incarnation": report.Incarnation, "ContainerId": report.ContainerID, "InstanceId": report.InstanceID} {
		if !wireID(v) {
			return badAnswer("azure: the goal state's %s %.80q is not an id", name, v)
		}
	}
	body, err := xml.Marshal(report)
	if err != nil {
		return fmt.Errorf("azure: writing the health report: %w", err)
	}
	url := base + "/machine/?comp=health"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(append([]byte(xml.Header), body...)))
	if err != nil {
		return fmt.Errorf("azure: %w", err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", "text/xml;charset=utf-8")
	resp, err := p.F.Client.Do(req)
	if err != nil {
		return fmt.Errorf("azure: sending the health report: %w", err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("azure: sending the health report: %w", &StatusError{URL: url, Code: resp.StatusCode})
	}
	return nil
}

// wireID accepts what the fabric's ids are made of (GUIDs, numbers,
// names with dots and dashes), and nothing that would be odd to send back.
func wireID(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	return strings.IndexFunc(s, func(r rune) bool {
		return !(r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("-._:", r)))
	}) < 0
}

// reportReady calls r.ReportReady, again after t.Backoff (doubling) while
// the fabric cannot be reached, at most t.Tries times, each call bounded
// by t.Fetch. An answer that refuses the report is not retried.
func reportReady(ctx context.Context, r ReadyReporter, t Timing) error {
	wait := t.Backoff
	var err error
	for try := 0; try < max(t.Tries, 1); try++ {
		if try > 0 {
			select {
			case <-ctx.Done():
				return err
			case <-time.After(wait):
			}
			wait *= 2
		}
		actx, cancel := context.WithTimeout(ctx, t.Fetch)
		err = r.ReportReady(actx)
		cancel()
		if err == nil || Definite(err) {
			return err
		}
	}
	return err
}
