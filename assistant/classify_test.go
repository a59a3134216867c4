package assistant

import (
	"os"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestClassifierAccuracy classifies the held-out labelled utterances
// (testdata/labelled.tsv, ≥ 200 in Chinese and English, none in the
// training file), logs the accuracy per intent and asserts ≥ 90% overall
// and ≥ 75% for every intent.
func TestClassifierAccuracy(t *testing.T) {
	c, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("testdata/labelled.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tests, err := ReadExamples(f)
	if err != nil {
		t.Fatal(err)
	}
	train, _ := ReadExamples(strings.NewReader(trainingData))
	seen := map[string]bool{}
	for _, ex := range train {
		seen[ex.Text] = true
	}
	type tally struct{ ok, n, zh, en int }
	per := map[Intent]*tally{}
	for _, in := range Intents() {
		per[in] = &tally{}
	}
	ok := 0
	for _, ex := range tests {
		if seen[ex.Text] {
			t.Errorf("%q is in the training file too", ex.Text)
		}
		got, p := c.Classify(ex.Text)
		tl := per[ex.Intent]
		tl.n++
		if utf8.RuneCountInString(ex.Text) != len(ex.Text) {
			tl.zh++
		} else {
			tl.en++
		}
		if got == ex.Intent {
			tl.ok++
			ok++
		} else {
			t.Logf("miss: %q is %s, classified %s (%.2f)", ex.Text, ex.Intent, got, p)
		}
	}
	if len(tests) < 200 {
		t.Fatalf("only %d labelled utterances", len(tests))
	}
	t.Logf("%-20s %5s %5s %5s %8s", "intent", "zh", "en", "right", "accuracy")
	for _, in := range Intents() {
		tl := per[in]
		if tl.zh == 0 || tl.en == 0 {
			t.Errorf("%s: needs utterances in both languages (zh %d, en %d)", in, tl.zh, tl.en)
			continue
		}
		acc := float64(tl.ok) / float64(tl.n)
		t.Logf("%-20s %5d %5d %5d %7.1f%%", in, tl.zh, tl.en, tl.ok, 100*acc)
		if acc < 0.75 {
			t.Errorf("%s: accuracy %.1f%% < 75%%", in, 100*acc)
		}
	}
	overall := float64(ok) / float64(len(tests))
	t.Logf("%-20s %17d %7.1f%% of %d", "overall", ok, 100*overall, len(tests))
	if overall < 0.90 {
		t.Errorf("overall accuracy %.1f%% < 90%%", 100*overall)
	}
}

func TestClassifierEdges(t *testing.T) {
	c, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"", "   ", "!!!", "zzzzqqq", "🙂🙂"} {
		if in, p := c.Classify(s); in != IntentUnknown || p != 1 {
			t.Errorf("%q: %s %.2f, want unknown 1", s, in, p)
		}
	}
	if in, p := c.Classify("我的提现到哪了"); in != IntentWithdrawalStatus || p < 0.5 {
		t.Errorf("我的提现到哪了: %s %.2f", in, p)
	}
	sc := c.Scores("where is my transfer")
	sum := 0.0
	for i, s := range sc {
		sum += s.Probability
		if i > 0 && s.Probability > sc[i-1].Probability {
			t.Errorf("scores not sorted: %v", sc)
		}
	}
	if sum < 0.999 || sum > 1.001 {
		t.Errorf("probabilities sum to %f", sum)
	}
	if _, err := ReadExamples(strings.NewReader("no_such_intent\thello\n")); err == nil {
		t.Error("an unknown intent was read")
	}
	if _, err := Train([]Example{{IntentUnknown, "hi"}}); err == nil {
		t.Error("trained without every intent")
	}
}

// FuzzClassify: any input, valid UTF-8 or not, of any length, is
// classified without a panic into a known intent with a probability in
// [0, 1].
func FuzzClassify(f *testing.F) {
	c, err := Default()
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{"我的提现到哪了", "where is my withdrawal", "转人工", "", "\xff\xfe", "ｗｉｔｈｄｒａｗ 提现 why'", strings.Repeat("提", 2000)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		in, p := c.Classify(s)
		if !in.Valid() || p < 0 || p > 1 || p != p {
			t.Fatalf("%q: %s %f", s, in, p)
		}
	})
}

// BenchmarkClassify: one question of the labelled set after another.
func BenchmarkClassify(b *testing.B) {
	c, err := Default()
	if err != nil {
		b.Fatal(err)
	}
	f, err := os.Open("testdata/labelled.tsv")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	ex, err := ReadExamples(f)
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; b.Loop(); i++ {
		c.Classify(ex[i%len(ex)].Text)
	}
}

// BenchmarkTrain: training at start-up.
func BenchmarkTrain(b *testing.B) {
	for b.Loop() {
		if _, err := Default(); err != nil {
			b.Fatal(err)
		}
	}
}
