// Schedule windows that raise a service's replica floor ("07:00-19:00: 20").
// Pure: the caller gives the local time, so tests do not wait for 7 am.

export type Day = 'sun' | 'mon' | 'tue' | 'wed' | 'thu' | 'fri' | 'sat';
const DAY_NAMES: Day[] = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

export interface ScheduleWindow {
  /** "HH:MM", local time. */
  from: string;
  /** "HH:MM", local time; earlier than `from` for a window that spans midnight. */
  to: string;
  min: number;
  /** Days the window starts on; every day when omitted. */
  days?: Day[];
}

export interface LocalTime {
  /** 0 = Sunday. */
  day: number;
  /** Minutes since local midnight. */
  minute: number;
}

export function localTime(ms: number): LocalTime {
  const d = new Date(ms);
  return { day: d.getDay(), minute: d.getHours() * 60 + d.getMinutes() };
}

const minutesOf = (hhmm: string): number => {
  const [h, m] = hhmm.split(':').map(Number);
  return h * 60 + m;
};

/** Whether the window covers that local time (start inclusive, end exclusive). */
export function inWindow(w: ScheduleWindow, t: LocalTime): boolean {
  const from = minutesOf(w.from);
  const to = minutesOf(w.to);
  const startsOn = (day: number) => !w.days || w.days.includes(DAY_NAMES[(day + 7) % 7]);
  if (from === to) return startsOn(t.day); // a whole day
  if (from < to) return t.minute >= from && t.minute < to && startsOn(t.day);
  // Spans midnight: the evening part belongs to today's window, the morning part to yesterday's.
  if (t.minute >= from) return startsOn(t.day);
  if (t.minute < to) return startsOn(t.day - 1);
  return false;
}

/** The highest `min` of the windows covering that time, or 0 when none does. */
export function scheduleFloor(windows: ScheduleWindow[], t: LocalTime): number {
  let floor = 0;
  for (const w of windows) if (inWindow(w, t)) floor = Math.max(floor, w.min);
  return floor;
}
