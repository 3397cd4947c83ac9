/**
 * The clock court orders are judged by. Injectable (tests move time instead of
 * sleeping, STYLE.md lesson 4); `orders.clock` in the config starts it at a
 * chosen instant and lets it run at real speed, so a demo can show a lapsed
 * order enforced "as on" a day inside its dates.
 */
import type { Config } from '../../config/schema.js';

export type OrderClock = () => Date;

export function orderClock(cfg: Config, realNow: () => number = Date.now): OrderClock {
  const start = cfg.orders.clock;
  if (!start) return () => new Date(realNow());
  const offset = Date.parse(start) - realNow();
  return () => new Date(realNow() + offset);
}
