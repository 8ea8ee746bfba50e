/**
 * When each phase of one request ended, in milliseconds since the balancer took it up: the
 * answer to "where did this slow request's time go?". Made only when the `timeline` setting is
 * on; with it off nothing of this exists and the request path checks one flag.
 *
 * @module
 */

/** The phases, in order; each mark is when that phase ended. */
export const PHASES = [
  /** Admitted by the admission gate (absent when it let the request through at once). */
  "admitted",
  /** The try started: backend picked, request body read. */
  "tryStarted",
  /** A connection to the backend taken from the pool or opened. */
  "connected",
  /** The whole request handed to the socket. */
  "written",
  /** The first bytes of the response head read. */
  "firstByte",
  /** The response head parsed; the balancer gets the response. */
  "head",
  /** The response body read from the backend to its end. */
  "bodyRead",
  /** The answer sent to the client (`Deno.serve`'s `completed`). */
  "sent",
] as const;

/** One of {@linkcode PHASES}. */
export type Phase = typeof PHASES[number];

/** Phase marks of one request, in ms (0.01 ms steps) since {@linkcode Timeline} was made. */
export type PhaseMarks = Partial<Record<Phase, number>>;

/** The marks of one request. A later try's marks replace an earlier try's. */
export class Timeline {
  readonly marks: PhaseMarks = {};
  readonly #startMs = performance.now();

  /** Marks `phase` as ended now. */
  mark(phase: Phase): void {
    this.marks[phase] = Math.round((performance.now() - this.#startMs) * 100) / 100;
  }

  /** Marks `phase` unless it is marked already (the first of several reads). */
  markOnce(phase: Phase): void {
    if (this.marks[phase] === undefined) this.mark(phase);
  }

  /** A new try starts: the marks of the previous one go. */
  startTry(): void {
    const marks = this.marks;
    delete marks.connected;
    delete marks.written;
    delete marks.firstByte;
    delete marks.head;
    delete marks.bodyRead;
    this.mark("tryStarted");
  }
}
