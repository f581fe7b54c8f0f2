import {
  Global,
  Inject,
  Logger,
  Module,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { APP_CONFIG } from '../app-config.module.js';
import type { AppConfig } from '../app.config.js';
import { DATABASE, type Database } from './database.js';
import { PgDatabase } from './pg.database.js';
import { PgliteDatabase } from './pglite.database.js';
import { migrate } from './schema.js';

/** Opens the database named by the config, creates the schema, closes it at shutdown. */
@Global()
@Module({
  providers: [
    {
      provide: DATABASE,
      inject: [APP_CONFIG],
      useFactory: async (config: AppConfig): Promise<Database> => {
        const db = config.databaseUrl
          ? new PgDatabase(config.databaseUrl, config.databasePoolSize)
          : await PgliteDatabase.open(config.pgliteDataDir);
        try {
          await migrate(db);
        } catch (error) {
          await db.close().catch(() => {});
          throw new Error(
            `${db.description}: the schema could not be created: ${(error as Error).message}`,
            { cause: error },
          );
        }
        new Logger(DatabaseModule.name).log(`Database: ${db.description}`);
        return db;
      },
    },
  ],
  exports: [DATABASE],
})
export class DatabaseModule implements OnApplicationShutdown {
  constructor(@Inject(DATABASE) private readonly db: Database) {}

  async onApplicationShutdown(): Promise<void> {
    await this.db.close();
  }
}
