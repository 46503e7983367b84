import { inWindow, localTime, scheduleFloor, type ScheduleWindow } from './schedule';

const at = (day: number, hhmm: string) => {
  const [h, m] = hhmm.split(':').map(Number);
  return { day, minute: h * 60 + m };
};

describe('inWindow', () => {
  const day: ScheduleWindow = { from: '07:00', to: '19:00', min: 20 };

  it('covers from (inclusive) to to (exclusive) on every day by default', () => {
    expect(inWindow(day, at(1, '06:59'))).toBe(false);
    expect(inWindow(day, at(1, '07:00'))).toBe(true);
    expect(inWindow(day, at(0, '12:30'))).toBe(true);
    expect(inWindow(day, at(1, '18:59'))).toBe(true);
    expect(inWindow(day, at(1, '19:00'))).toBe(false);
  });

  it('keeps to the listed days', () => {
    const weekdays: ScheduleWindow = { ...day, days: ['mon', 'tue', 'wed', 'thu', 'fri'] };
    expect(inWindow(weekdays, at(1, '08:00'))).toBe(true);
    expect(inWindow(weekdays, at(5, '08:00'))).toBe(true);
    expect(inWindow(weekdays, at(6, '08:00'))).toBe(false);
    expect(inWindow(weekdays, at(0, '08:00'))).toBe(false);
  });

  it('spans midnight when to is before from; the morning part belongs to the day it started', () => {
    const night: ScheduleWindow = { from: '22:00', to: '06:00', min: 3, days: ['fri'] };
    expect(inWindow(night, at(5, '21:59'))).toBe(false);
    expect(inWindow(night, at(5, '22:00'))).toBe(true);
    expect(inWindow(night, at(6, '05:59'))).toBe(true); // Saturday morning, started Friday
    expect(inWindow(night, at(6, '06:00'))).toBe(false);
    expect(inWindow(night, at(6, '23:00'))).toBe(false); // Saturday night: not listed
    expect(inWindow(night, at(5, '03:00'))).toBe(false); // Friday morning started Thursday
    const sunday: ScheduleWindow = { from: '22:00', to: '06:00', min: 3, days: ['sat'] };
    expect(inWindow(sunday, at(0, '01:00'))).toBe(true); // wraps Sunday -> Saturday
  });

  it('from == to is the whole day', () => {
    expect(inWindow({ from: '00:00', to: '00:00', min: 1, days: ['sun'] }, at(0, '13:00'))).toBe(
      true,
    );
    expect(inWindow({ from: '00:00', to: '00:00', min: 1, days: ['sun'] }, at(1, '13:00'))).toBe(
      false,
    );
  });
});

describe('scheduleFloor', () => {
  const windows: ScheduleWindow[] = [
    { from: '07:00', to: '19:00', min: 20 },
    { from: '12:00', to: '13:00', min: 30 },
  ];

  it('is the highest min of the windows covering the time, 0 outside all', () => {
    expect(scheduleFloor(windows, at(2, '06:00'))).toBe(0);
    expect(scheduleFloor(windows, at(2, '08:00'))).toBe(20);
    expect(scheduleFloor(windows, at(2, '12:15'))).toBe(30);
    expect(scheduleFloor([], at(2, '12:15'))).toBe(0);
  });
});

describe('localTime', () => {
  it('reads the local day and minute of a timestamp', () => {
    const d = new Date(2026, 10, 27, 7, 5); // a Friday, 07:05 local
    expect(localTime(d.getTime())).toEqual({ day: 5, minute: 7 * 60 + 5 });
  });
});
