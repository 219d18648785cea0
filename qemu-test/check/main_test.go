package main

import "testing"

func TestSatisfied(t *testing.T) {
	table := "NAME     PHASE    STATE    PID\nsysctl   onboot   exited   -\nhello    service  running  42\n"
	tests := []struct {
		wants []Want
		want  bool
	}{
		{[]Want{{"hello", "running"}}, true},
		{[]Want{{"hello", "running"}, {"sysctl", "exited"}}, true},
		{[]Want{{"getty", "running"}}, false},
		{[]Want{{"sysctl", "running"}}, false},
	}
	for _, tt := range tests {
		if got := Satisfied(table, tt.wants); got != tt.want {
			t.Errorf("Satisfied(%v) = %v, want %v", tt.wants, got, tt.want)
		}
	}
}

func TestParseWants(t *testing.T) {
	got, err := ParseWants("a=running,b=exited")
	if err != nil || len(got) != 2 || got[1] != (Want{"b", "exited"}) {
		t.Errorf("ParseWants = %v, %v; want two entries", got, err)
	}
	if _, err := ParseWants("a"); err == nil {
		t.Error("ParseWants(\"a\") = nil error, want an error")
	}
}
